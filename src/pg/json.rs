//! jsonb arguments and results: read as bounded JSON text (the core parses it once into typed
//! values), written from the JSON text the core prints.

use super::fmgr::{arg, is_null, raise, utf8, OrRaise};
use pg_segment_core::fallible::MAX_JSON_TEXT;
use pg_segment_core::Error;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use std::ffi::CStr;

/// A jsonb argument as JSON text (`{}` when NULL or absent), at most [`MAX_JSON_TEXT`] bytes;
/// `name` names it in errors.
pub unsafe fn arg_json(fc: FunctionCallInfo, n: usize, name: &str) -> String {
    if is_null(fc, n) {
        return "{}".into();
    }
    jsonb_datum_text(arg(fc, n), name)
}

/// The JSON text of a jsonb datum: checked to be UTF-8, at most [`MAX_JSON_TEXT`] bytes, copied
/// fallibly.
pub unsafe fn jsonb_datum_text(d: Datum, name: &str) -> String {
    let out = pgrx::direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(d)]).unwrap();
    let text = CStr::from_ptr(out.cast_mut_ptr()).to_bytes();
    if text.len() > MAX_JSON_TEXT {
        raise(
            Error::limit(format!(
                "{name} is {} MB of JSON text, more than the {} MB pg_segment reads",
                text.len() >> 20,
                MAX_JSON_TEXT >> 20
            ))
            .with_hint("options, rules and models are small documents: check that the right value is passed"),
        );
    }
    pg_segment_core::fallible::string_of(utf8(text, name), name).or_raise()
}

/// The JSON text of raw jsonb bytes (a jsonb value without its varlena header).
pub unsafe fn jsonb_bytes_text(bytes: &[u8], name: &str) -> String {
    jsonb_datum_text(super::fmgr::ret_bytes(bytes), name)
}

/// A jsonb argument of a `#[pg_extern]` function, as its JSON text within [`MAX_JSON_TEXT`]
/// (pgrx's own `JsonB` parses a value of any size before the function can look at it).
pub struct JsonText(pub String);

pgrx::impl_sql_translatable!(JsonText, arg_only = "jsonb");

fn nth_argument(index: usize) -> String {
    format!("jsonb argument {}", index + 1)
}

impl pgrx::FromDatum for JsonText {
    unsafe fn from_polymorphic_datum(datum: Datum, is_null: bool, _: pg_sys::Oid) -> Option<JsonText> {
        if is_null {
            None
        } else {
            Some(JsonText(jsonb_datum_text(datum, &nth_argument(0))))
        }
    }
}

/// The datum itself, to read it knowing the argument's position.
struct RawDatum(Datum);

impl pgrx::FromDatum for RawDatum {
    unsafe fn from_polymorphic_datum(datum: Datum, is_null: bool, _: pg_sys::Oid) -> Option<RawDatum> {
        (!is_null).then_some(RawDatum(datum))
    }
}

unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for JsonText {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        match arg.unbox_arg_using_from_datum::<RawDatum>() {
            Some(d) => JsonText(jsonb_datum_text(d.0, &nth_argument(index))),
            None => raise(Error::invalid(format!("argument {} must not be NULL", index + 1))),
        }
    }
}

pub unsafe fn ret_jsonb(json: &str) -> Datum {
    let c = super::fmgr::pg_cstring(json);
    pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(Datum::from(c))]).unwrap()
}
