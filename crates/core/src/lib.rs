//! The pgrx-free core of pg_segment: the math and rules of every family (summary, score, labels,
//! population, sample, kmeans, tags, profile, clv, service, privacy, report) and what they share (numeric, time, config,
//! codec, fallible, cancel, idtable). Plain Rust with plain `#[test]`s: this crate does not
//! depend on pgrx, so `cargo test -p pg_segment_core` needs no PostgreSQL.
//!
//! The extension's glue (`src/pg/` of the extension crate) converts PostgreSQL values, calls
//! these functions and turns [`Error`] into `ereport(ERROR)` with the SQLSTATE given by
//! [`ErrCode`].
//!
//! Functions the extension calls once per row (numeric decoding, the summary accessors, the
//! population state's `add`, scoring) are `#[inline]` or generic, so that they inline into the
//! transition functions across the crate boundary; the release profile's thin LTO does the rest.

pub mod browsing;
pub mod cancel;
pub mod clv;
pub mod codec;
pub mod config;
pub mod fallible;
pub mod idtable;
pub mod kmeans;
pub mod labels;
pub mod loyalty;
pub mod mix;
pub mod numeric;
pub mod pca;
pub mod population;
pub mod privacy;
pub mod profile;
pub mod report;
pub mod sample;
pub mod score;
pub mod service;
pub mod summary;
pub mod summary_orders;
pub mod tags;
pub mod time;

/// The most bytes the text form of one stored value may take. `pg_dump` writes every row with
/// `COPY ... TO` in text, whose line buffer holds at most 1 GB: a value whose text is larger (a
/// population's hex form is twice its size) could be stored but not dumped. The limit leaves
/// room for the other columns of the row.
pub const MAX_TEXT_BYTES: usize = 1_000_000_000;

/// The SQLSTATE classes pg_segment raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrCode {
    /// 22023 invalid_parameter_value
    InvalidParameter,
    /// 22P02 invalid_text_representation
    InvalidText,
    /// 22003 numeric_value_out_of_range
    OutOfRange,
    /// 22008 datetime_field_overflow
    DatetimeOverflow,
    /// 22P03 invalid_binary_representation
    InvalidBinary,
    /// 22021 character_not_in_repertoire (text that is not valid UTF-8)
    BadEncoding,
    /// 0A000 feature_not_supported (e.g. a summary written by a newer version)
    NotSupported,
    /// 53200 out_of_memory (a configured memory limit would be exceeded)
    OutOfMemory,
    /// 54000 program_limit_exceeded
    LimitExceeded,
    /// XX000 internal_error
    Internal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub code: ErrCode,
    pub message: String,
    pub hint: Option<String>,
}

/// One constructor per SQLSTATE class: `Error::invalid("...")` and so on.
macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        $(
            pub fn $name(message: impl Into<String>) -> Self {
                Error { code: ErrCode::$code, message: message.into(), hint: None }
            }
        )*
    };
}

impl Error {
    constructors! {
        invalid => InvalidParameter,
        invalid_text => InvalidText,
        out_of_range => OutOfRange,
        datetime => DatetimeOverflow,
        binary => InvalidBinary,
        encoding => BadEncoding,
        not_supported => NotSupported,
        out_of_memory => OutOfMemory,
        limit => LimitExceeded,
        internal => Internal,
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
pub use mix::test_rng;
