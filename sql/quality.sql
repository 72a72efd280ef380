-- The quality family: a data-quality report over an order table, so that a DBA sees what
-- segmentation will skip or merge before trusting it. PL/pgSQL, run with the caller's rights
-- (it reads the source as any query of the caller does), search_path pinned; the statement is
-- built from the column names with format('%I') and the source as a regclass, never by
-- concatenating user text.
--
-- The robust rule for amounts far outside the population: the positive order amounts are taken
-- on a log scale (ln; "linear" on request), and an amount is an outlier when it lies more than
-- outlier_k (3.5) robust standard deviations from their median, the robust standard deviation
-- being 1.4826 × the median absolute deviation (MAD) (the modified z-score of Iglewicz and
-- Hoaglin). With a MAD of 0 (more than half the amounts equal) nothing is flagged.

-- The per-customer SELECT of the report (one row per customer key, NULL keys as one row), with
-- the band of the robust rule in every row; checked: column existence and types, options.
CREATE FUNCTION segment._order_quality_sql(source regclass, customer_column name, ordered_at_column name,
                                           amount_column name, options jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t regtype;
    refund_expr text;
    oid_expr text := 'NULL::text';
    as_of_expr text;
    scale_fn text;
    k numeric;
    bad text;
BEGIN
    options := segment._source_options(source, options);
    SELECT min(key) INTO bad FROM jsonb_object_keys(options) key
    WHERE key NOT IN ('as_of', 'refund_column', 'order_id_column', 'outlier_k', 'outlier_scale', 'lang');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'options: unknown key "%"', bad USING ERRCODE = '22023',
            HINT = 'Keys: as_of, refund_column, order_id_column, outlier_k, outlier_scale, lang.';
    END IF;
    PERFORM segment._column_type(source, customer_column, 'customer_column');
    t := segment._column_type(source, ordered_at_column, 'ordered_at_column');
    IF t NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
        RAISE EXCEPTION 'ordered_at_column "%" of % must be timestamptz, timestamp or date, it is %', ordered_at_column, source, t
            USING ERRCODE = '42804';
    END IF;
    t := segment._column_type(source, amount_column, 'amount_column');
    IF t NOT IN ('numeric'::regtype, 'bigint'::regtype, 'integer'::regtype, 'smallint'::regtype, 'double precision'::regtype, 'real'::regtype) THEN
        RAISE EXCEPTION 'amount_column "%" of % must be numeric, an integer or a float type, it is %', amount_column, source, t
            USING ERRCODE = '42804';
    END IF;
    refund_expr := format('s.%I < 0', amount_column);
    IF options ? 'refund_column' THEN
        t := segment._column_type(source, (options->>'refund_column')::name, 'options.refund_column');
        IF t <> 'boolean'::regtype THEN
            RAISE EXCEPTION 'options.refund_column "%" of % must be boolean, it is %', options->>'refund_column', source, t USING ERRCODE = '42804';
        END IF;
        refund_expr := format('(coalesce(s.%I, false) OR s.%I < 0)', options->>'refund_column', amount_column);
    END IF;
    IF options ? 'order_id_column' THEN
        PERFORM segment._column_type(source, (options->>'order_id_column')::name, 'options.order_id_column');
        oid_expr := format('s.%I::text', options->>'order_id_column');
    END IF;
    IF options->>'as_of' IS NULL OR lower(btrim(options->>'as_of')) = 'now' THEN
        as_of_expr := 'now()';
    ELSE
        as_of_expr := segment._as_of_literal(options->'as_of');
    END IF;
    scale_fn := CASE coalesce(options->>'outlier_scale', 'log') WHEN 'log' THEN 'ln' WHEN 'linear' THEN '' END;
    IF scale_fn IS NULL OR jsonb_typeof(coalesce(options->'outlier_scale', '"log"')) <> 'string' THEN
        RAISE EXCEPTION 'options.outlier_scale must be ''log'' or ''linear'', got %', options->'outlier_scale' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce(options->'outlier_k', '3.5')) <> 'number' THEN
        RAISE EXCEPTION 'options.outlier_k must be a number above 0, got %', options->'outlier_k' USING ERRCODE = '22023';
    END IF;
    k := coalesce((options->>'outlier_k')::numeric, 3.5);
    IF k <= 0 THEN
        RAISE EXCEPTION 'options.outlier_k must be a number above 0, got %', options->'outlier_k' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce(options->'lang', '"zh"')) <> 'string' OR coalesce(options->>'lang', 'zh') NOT IN ('zh', 'en', 'code') THEN
        RAISE EXCEPTION 'options.lang must be ''zh'', ''en'' or ''code'', got %', options->'lang' USING ERRCODE = '22023';
    END IF;
    -- r: the rows as segmentation reads them; o: the order amounts the band is taken from
    RETURN format($q$WITH r AS MATERIALIZED (
            SELECT s.%1$I AS k, s.%2$I::timestamptz AS at, s.%3$I::numeric AS amount, coalesce(%4$s, false) AS refund,
                   %5$s AS order_id, to_jsonb(s) AS whole
            FROM %6$s s),
        o AS (SELECT %7$s(r.amount::float8) AS v FROM r
              WHERE r.k IS NOT NULL AND r.at IS NOT NULL AND r.amount > 0 AND NOT r.refund),
        m AS (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY o.v) AS med FROM o),
        band AS (SELECT m.med, (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(o.v - m.med)) FROM o) AS mad,
                        %8$s::float8 AS k, %9$s AS as_of FROM m)
        SELECT r.k,
               count(*) AS rows,
               count(*) FILTER (WHERE r.at IS NULL) AS null_instants,
               count(*) FILTER (WHERE r.amount IS NULL) AS null_amounts,
               count(*) - count(DISTINCT r.whole) AS duplicate_rows,
               count(r.order_id) - count(DISTINCT (r.order_id, r.refund)) FILTER (WHERE r.order_id IS NOT NULL) AS duplicate_order_ids,
               count(*) FILTER (WHERE r.at > band.as_of AND r.amount IS NOT NULL AND NOT r.refund) AS future_orders,
               count(*) FILTER (WHERE r.at IS NOT NULL AND r.amount = 0 AND NOT r.refund) AS zero_amounts,
               count(*) FILTER (WHERE r.at IS NOT NULL AND r.amount > 0 AND NOT r.refund AND band.mad > 0
                                  AND abs(%7$s(r.amount::float8) - band.med) > band.k * 1.4826 * band.mad) AS outliers,
               coalesce(sum(r.amount) FILTER (WHERE NOT r.refund AND r.at <= band.as_of), 0) AS purchases,
               coalesce(sum(abs(r.amount)) FILTER (WHERE r.refund AND r.at <= band.as_of), 0) AS refunds,
               min(band.med) AS med, min(band.mad) AS mad
        FROM r, band GROUP BY r.k$q$,
        customer_column, ordered_at_column, amount_column, refund_expr, oid_expr, source, scale_fn, k, as_of_expr);
END $$;
COMMENT ON FUNCTION segment._order_quality_sql(regclass, name, name, name, jsonb) IS
    'The per-customer SELECT of the order data-quality report, checked: column existence and types, options';

CREATE FUNCTION segment.order_quality_customers(source regclass, customer_column name, ordered_at_column name,
                                                amount_column name, options jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS TABLE (customer_id text, rows bigint, null_instants bigint, null_amounts bigint, duplicate_rows bigint,
                   duplicate_order_ids bigint, future_orders bigint, zero_amounts bigint, outliers bigint,
                   purchases numeric, refunds numeric, refunds_exceed_purchases boolean)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT q.k::text, q.rows, q.null_instants, q.null_amounts, q.duplicate_rows, %s, q.future_orders, q.zero_amounts,
                q.outliers, q.purchases, q.refunds, q.refunds > q.purchases
         FROM (%s) q
         WHERE q.k IS NOT NULL AND (q.null_instants > 0 OR q.null_amounts > 0 OR q.duplicate_rows > 0 OR q.duplicate_order_ids > 0
                OR q.future_orders > 0 OR q.zero_amounts > 0 OR q.outliers > 0 OR q.refunds > q.purchases)
         ORDER BY q.k',
        CASE WHEN options ? 'order_id_column' THEN 'q.duplicate_order_ids' ELSE 'NULL::bigint' END,
        segment._order_quality_sql(source, customer_column, ordered_at_column, amount_column, options));
END $$;
COMMENT ON FUNCTION segment.order_quality_customers(regclass, name, name, name, jsonb) IS
    'Data-quality report per customer: the customers (key as text, in key order) with NULL instants or amounts, duplicate rows or order ids, orders after as_of, zero amounts, outlier amounts or refunds above their purchases';

CREATE FUNCTION segment.order_quality(source regclass, customer_column name, ordered_at_column name,
                                      amount_column name, options jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS TABLE (issue text, label text, rows bigint, customers bigint, amount numeric, segmentation text)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q text;
    lang text := coalesce(options->>'lang', 'zh');
    shared_rows text := 'NULL';
    has_ids boolean := coalesce(options ? 'order_id_column', false);
    k numeric;
    log_scale boolean := coalesce(options->>'outlier_scale', 'log') = 'log';
BEGIN
    q := segment._order_quality_sql(source, customer_column, ordered_at_column, amount_column, options);
    k := coalesce((options->>'outlier_k')::numeric, 3.5);
    -- rows whose order id more than one customer key uses (segmentation keeps them under each)
    IF has_ids THEN
        EXECUTE format('SELECT coalesce(sum(x.n), 0)::text FROM (SELECT count(*) AS n FROM %s s WHERE s.%I IS NOT NULL
                        GROUP BY s.%I HAVING count(DISTINCT s.%I) > 1) x',
                       source, options->>'order_id_column', options->>'order_id_column', customer_column) INTO shared_rows;
    END IF;
    RETURN QUERY EXECUTE format($r$
        WITH c AS (%s),
        t AS (SELECT coalesce(sum(c.rows), 0)::bigint AS rows, count(c.k) AS customers,
                     max(c.med) AS med, max(c.mad) AS mad FROM c)
        SELECT x.issue, CASE %2$L WHEN 'zh' THEN x.zh WHEN 'en' THEN x.en ELSE x.issue END, x.rows, x.customers, x.amount,
               CASE %2$L WHEN 'zh' THEN x.does_zh WHEN 'en' THEN x.does_en ELSE NULL END
        FROM (
            SELECT 1 AS ord, 'rows' AS issue, '行数' AS zh, 'Rows' AS en, t.rows, t.customers, NULL::numeric AS amount,
                   '读取' AS does_zh, 'read' AS does_en FROM t
            UNION ALL SELECT 2, 'null_customer', '客户键为空', 'NULL customer key', coalesce(sum(c.rows) FILTER (WHERE c.k IS NULL), 0)::bigint, NULL, NULL,
                   '跳过', 'skipped' FROM c
            UNION ALL SELECT 3, 'null_ordered_at', '下单时间为空', 'NULL instant', sum(c.null_instants)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.null_instants > 0), NULL,
                   '跳过', 'skipped' FROM c
            UNION ALL SELECT 4, 'null_amount', '金额为空', 'NULL amount', sum(c.null_amounts)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.null_amounts > 0), NULL,
                   '跳过', 'skipped' FROM c
            UNION ALL SELECT 5, 'duplicate_row', '完全重复的行', 'Exact duplicate rows', sum(c.duplicate_rows)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.duplicate_rows > 0), NULL,
                   '各算一次（除非共用整数订单号且给出 order_id_column）', 'each counted (unless they share an integer order id and order_id_column is given)' FROM c
            UNION ALL SELECT 6, 'duplicate_order_id', '重复的订单号', 'Repeated order id', CASE WHEN %3$L THEN sum(c.duplicate_order_ids)::bigint END,
                   CASE WHEN %3$L THEN count(*) FILTER (WHERE c.k IS NOT NULL AND c.duplicate_order_ids > 0) END, NULL,
                   '整数订单号列作为 order_id_column 时合并（每客户每订单号与类型一次）', 'merged when order_id_column (an integer column) is given: once per customer, order id and kind' FROM c
            UNION ALL SELECT 7, 'shared_order_id', '多个客户共用的订单号', 'Order id of several customers', %4$s::bigint, NULL, NULL,
                   '各客户分别保留', 'kept under each customer'
            UNION ALL SELECT 8, 'future_order', '晚于 as_of 的订单', 'Order after as_of', sum(c.future_orders)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.future_orders > 0), NULL,
                   '不计入，单独计数 (future_orders)', 'excluded, counted (future_orders)' FROM c
            UNION ALL SELECT 9, 'zero_amount', '金额为零的订单', 'Order of amount 0', sum(c.zero_amounts)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.zero_amounts > 0), NULL,
                   '计为订单，无消费', 'counted as orders without spend' FROM c
            UNION ALL SELECT 10, 'refund_exceeds_purchases', '退款超过购买', 'Refunds above purchases', coalesce(sum(c.rows) FILTER (WHERE c.k IS NOT NULL AND c.refunds > c.purchases), 0)::bigint,
                   count(*) FILTER (WHERE c.k IS NOT NULL AND c.refunds > c.purchases), coalesce(sum(c.refunds - c.purchases) FILTER (WHERE c.k IS NOT NULL AND c.refunds > c.purchases), 0),
                   '净消费为负', 'negative net spend' FROM c
            UNION ALL SELECT 11, 'amount_outlier', '金额异常', 'Amount outlier', sum(c.outliers)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.outliers > 0), NULL,
                   format('保留；正常范围 %%s 至 %%s（%%s 的中位数 %%s ± %%s × 1.4826 × MAD %%s）', b.lo, b.hi, %6$L, b.med, %5$s, b.mad),
                   format('kept; usual range %%s to %%s (%%s: median %%s ± %%s × 1.4826 × MAD %%s)', b.lo, b.hi, %6$L, b.med, %5$s, b.mad)
            FROM c, t, LATERAL (SELECT round(t.med::numeric, 4) AS med, round(t.mad::numeric, 4) AS mad,
                                       round(CASE WHEN %7$L THEN exp(t.med - %5$s * 1.4826 * t.mad) ELSE t.med - %5$s * 1.4826 * t.mad END::numeric, 2) AS lo,
                                       round(CASE WHEN %7$L THEN exp(t.med + %5$s * 1.4826 * t.mad) ELSE t.med + %5$s * 1.4826 * t.mad END::numeric, 2) AS hi) b
            GROUP BY b.lo, b.hi, b.med, b.mad
        ) x ORDER BY x.ord $r$,
        q, lang, has_ids, shared_rows, k, CASE WHEN log_scale THEN 'ln(amount)' ELSE 'amount' END, log_scale);
END $$;
COMMENT ON FUNCTION segment.order_quality(regclass, name, name, name, jsonb) IS
    'Data-quality report over an order table: per issue (NULL keys, instants and amounts, duplicate rows and order ids, orders after as_of, zero amounts, refunds above purchases, outlier amounts) the rows and customers concerned and what segmentation does with them';
