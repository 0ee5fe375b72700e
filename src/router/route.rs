//! The routes the router knows, and how metrics label them.

use crate::metrics::{Outcome, RouteLabel};

/// Which endpoint a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    AdRequest,
    Healthz,
    Readyz,
    Metrics,
    Explain,
    Event,
    Stats,
    Unknown,
}

impl RouteLabel for Route {
    const ALL: &'static [Route] = &[
        Route::AdRequest,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Explain,
        Route::Event,
        Route::Stats,
        Route::Unknown,
    ];

    fn label(self) -> &'static str {
        match self {
            Route::AdRequest => "ad_request",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Explain => "explain",
            Route::Event => "event",
            Route::Stats => "stats",
            Route::Unknown => "unknown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Every outcome an ad request can have, zeros included, so dashboards
    /// see each series before it first happens; the rest once they do.
    fn always_shown(self, outcome: Outcome) -> bool {
        self == Route::AdRequest
            && !matches!(
                outcome,
                Outcome::Ok | Outcome::NotFound | Outcome::InvalidEvent
            )
    }
}
