//! Why a feed (or key set) load failed, as one closed set of reasons.
//!
//! Every error that can end a load maps to a [`FailureReason`]
//! ([`super::FeedError::reason`], the refresher's and the JWKS's errors,
//! and [`FailureReason::of_fetch`] for a fetch that failed),
//! and the metrics count by it, so a label can neither be misspelt in one
//! place nor silently left out of `/metrics`.

use crate::fetch::FetchError;
use std::fmt;

/// Declares [`FailureReason`], its labels and [`FailureReason::ALL`] from
/// one list, so no variant can lack a label or be left out of `ALL` (and
/// so out of `/metrics`).
macro_rules! failure_reasons {
    ($($(#[$doc:meta])* $variant:ident => $label:literal,)*) => {
        /// A short, fixed label for a failed load.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FailureReason {
            $($(#[$doc])* $variant,)*
        }

        impl FailureReason {
            /// Every reason, in declaration order (the order `/metrics`
            /// lists them); `reason as usize` is its index here.
            pub const ALL: [FailureReason; [$($label),*].len()] =
                [$(FailureReason::$variant),*];

            /// The metrics label.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(FailureReason::$variant => $label,)*
                }
            }
        }
    };
}

failure_reasons! {
    /// The host could not be reached (refused, reset, unresolvable).
    Connect => "connect",
    Timeout => "timeout",
    /// Any other transport failure.
    Request => "request",
    /// An HTTP status other than 200 (or 304 to a conditional request).
    Status => "status",
    TooLarge => "too_large",
    InvalidJson => "invalid_json",
    NoAdsArray => "no_ads_array",
    /// The refresher's drop guard refused a feed that shrank too far.
    Drop => "drop",
    File => "file",
    Redirect => "redirect",
    Transport => "transport",
    /// A key set with no usable key: the JWKS only, never a feed.
    NoKeys => "no_keys",
}

impl FailureReason {
    /// Whether a feed refresh can fail this way: the label set of
    /// `adserver_feed_refresh_failures_total`.
    pub const fn ends_a_feed_refresh(self) -> bool {
        !matches!(self, FailureReason::NoKeys)
    }

    /// Why a fetch (of the feed or the JWKS) failed.
    pub fn of_fetch(e: &FetchError) -> FailureReason {
        match e {
            FetchError::File { .. } => FailureReason::File,
            FetchError::Request(e) => FailureReason::of_request(e),
            FetchError::Transport(_) => FailureReason::Transport,
            FetchError::Redirect(_) => FailureReason::Redirect,
            FetchError::Status(_) => FailureReason::Status,
            FetchError::TooLarge { .. } => FailureReason::TooLarge,
        }
    }

    /// Splits transport failures into the ones an operator acts on
    /// differently.
    fn of_request(e: &minreq::Error) -> FailureReason {
        use std::io::ErrorKind::*;
        match e {
            minreq::Error::IoError(io) => match io.kind() {
                TimedOut | WouldBlock => FailureReason::Timeout,
                ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected
                | AddrNotAvailable | HostUnreachable | NetworkUnreachable => FailureReason::Connect,
                _ => FailureReason::Request,
            },
            minreq::Error::AddressNotFound => FailureReason::Connect,
            _ => FailureReason::Request,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_only_no_keys_is_not_a_feed_reason() {
        for (i, reason) in FailureReason::ALL.into_iter().enumerate() {
            assert_eq!(reason as usize, i, "{reason}");
        }
        let labels: std::collections::HashSet<_> =
            FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), FailureReason::ALL.len());
        let not_feed: Vec<_> = FailureReason::ALL
            .into_iter()
            .filter(|r| !r.ends_a_feed_refresh())
            .collect();
        assert_eq!(not_feed, [FailureReason::NoKeys]);
    }
}
