//! The 400 bodies for refused queries, one fixed string per parameter and
//! problem, so a refusal formats nothing.

use crate::invalid_request;
use crate::query::{Param, Problem, QueryError};

/// The 400 body for a refused query; the message names the parameter.
pub fn invalid_query(e: QueryError) -> &'static str {
    use {Param::*, Problem::*};
    match (e.param, e.problem) {
        (Country, Missing) => invalid_request!("query parameter 'country' is required"),
        (Country, Empty) => invalid_request!("query parameter 'country' is empty"),
        (Country, Repeated) => {
            invalid_request!("query parameter 'country' is given more than once")
        }
        (Country, Malformed) => {
            invalid_request!(
                "query parameter 'country' must be an ISO 3166-1 alpha-2 code (two letters)"
            )
        }
        (Lang, Missing) => invalid_request!("query parameter 'lang' is required"),
        (Lang, Empty) => invalid_request!("query parameter 'lang' is empty"),
        (Lang, Repeated) => invalid_request!("query parameter 'lang' is given more than once"),
        (Lang, Malformed) => {
            invalid_request!(
                "query parameter 'lang' must be a language code such as eng, en or en-US"
            )
        }
        (Tz, Missing | Empty) => invalid_request!("query parameter 'tz' is empty"),
        (Tz, Repeated) => invalid_request!("query parameter 'tz' is given more than once"),
        (Tz, Malformed) => {
            invalid_request!(
                "query parameter 'tz' must be an IANA time zone such as America/New_York"
            )
        }
        (UtcOffset, Missing | Empty) => invalid_request!("query parameter 'utc_offset' is empty"),
        (UtcOffset, Repeated) => {
            invalid_request!("query parameter 'utc_offset' is given more than once")
        }
        (UtcOffset, Malformed) => {
            invalid_request!(
                "query parameter 'utc_offset' must be whole minutes east of UTC, -840 to 840"
            )
        }
        (Exclude, Missing | Empty | Malformed) => invalid_request!(
            "query parameter 'exclude' must be at most 16 comma-separated ids of at most 64 bytes"
        ),
        (Exclude, Repeated) => {
            invalid_request!("query parameter 'exclude' is given more than once")
        }
        (Format, Missing | Empty | Malformed) => {
            invalid_request!("query parameter 'format' must be json or vast")
        }
        (Format, Repeated) => invalid_request!("query parameter 'format' is given more than once"),
        (Uid, Missing | Empty | Malformed) => invalid_request!(
            "query parameter 'uid' must be 1 to 128 characters of A-Z a-z 0-9 . _ : -"
        ),
        (Uid, Repeated) => invalid_request!("query parameter 'uid' is given more than once"),
    }
}
