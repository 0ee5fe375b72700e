//! `GET /ad_request`: the ad a player is shown, as JSON or VAST, with its
//! serving id and signed event URL when tracking is on (README "Which ad is
//! served", "Delivery").
//!
//! Allocates nothing once an ad's template is built (see
//! [`crate::catalog::Chosen`]): the body is the catalog's shared parts
//! spliced with the serving id and event URL written into a fixed array.
//! A request with a player (`uid`, or the JWT `sub`) asking for a
//! frequency-capped ad also reads and counts in the bounded per-player map
//! (README "Budgets"), which may allocate a new entry.

use hyper::header::HOST;
use hyper::Request;

use super::invalid_query;
use crate::answer::{Answer, Body};
use crate::auth::Principal;
use crate::budget::Player;
use crate::catalog::{Catalog, Chosen};
use crate::delivery::{sign, vast, Splice, Tracking};
use crate::invalid_request;
use crate::ledger::Day;
use crate::query::{parse_ad_request, Format};
use crate::state::State;

/// The next ad for this request. `get`: a GET (counted as served), not a
/// HEAD; `principal`: who the access gate authenticated, if anyone.
pub(super) fn answer<B>(
    state: &State,
    req: &Request<B>,
    get: bool,
    principal: Option<Principal>,
) -> Answer {
    let request = match parse_ad_request(req.uri().query()) {
        Ok(request) => request,
        Err(e) => return Answer::Invalid(invalid_query(e)),
    };
    let catalog = state.catalog.load();
    let Some(catalog) = &*catalog else {
        return Answer::Unavailable;
    };
    let now = state.clock.now();
    let hour = state.hour_for(request.player, now);
    let vast = request.format == Format::Vast;
    let lookup = request.lookup(hour, now);
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    let player = player(state, catalog, request.uid, principal, secs);
    let Some(ad) = catalog.select_for(&lookup, player) else {
        return match vast {
            true => Answer::Vast {
                body: Body::plain(vast::no_ad()),
                found: false,
            },
            false => Answer::NoAd,
        };
    };
    if get {
        if let Some(tally) = ad.tally() {
            tally.served(Day::from_unix_secs(secs));
        }
        if let (Some(p), Some(cap)) = (player, ad.budget().frequency_cap) {
            p.caps.record(p.hash, ad.id_hash(), cap, p.hour);
        }
    }
    let tracking = state.delivery.tracking;
    if tracking == Tracking::Off && !vast {
        return Answer::Ad(Body::plain(ad.body()));
    }
    let splice = match splice(state, req, &ad, secs) {
        Ok(splice) => splice,
        Err(refused) => return Answer::Invalid(refused),
    };
    match vast {
        true => Answer::Vast {
            body: Body::spliced(ad.vast_template(tracking), splice),
            found: true,
        },
        false => Answer::Ad(Body::spliced(ad.json_template(), splice)),
    }
}

/// Who frequency caps count this request against: its `uid`, else (with
/// JWT auth) the subject of the token the access gate verified. `None`
/// when the catalog has no budgets at all, so a request pays nothing for a
/// feature the feed does not use.
fn player<'s>(
    state: &'s State,
    catalog: &Catalog,
    uid: Option<u64>,
    principal: Option<Principal>,
    secs: u64,
) -> Option<Player<'s>> {
    if !catalog.has_budgets() {
        return None;
    }
    let hash = match (uid, principal) {
        (Some(hash), _) | (None, Some(Principal::Subject(hash))) => hash,
        _ => return None,
    };
    Some(Player {
        hash,
        caps: &state.delivery.ledger.budgets().frequency,
        hour: (secs / 3600) as u32,
    })
}

/// A fresh serving id and, with tracking on, the event URL that carries
/// its signed token: `{--public-url or http://Host}/event?t=TOKEN`.
fn splice<B>(
    state: &State,
    req: &Request<B>,
    ad: &Chosen<'_>,
    secs: u64,
) -> Result<Splice, &'static str> {
    let delivery = &state.delivery;
    let serving_id = delivery.serving_ids.next();
    if delivery.tracking == Tracking::Off {
        return Ok(Splice::serving_id_only(&serving_id));
    }
    // The feed caps ids at 256 bytes, which is what a token carries.
    let token = sign(&delivery.key, &serving_id, ad.id(), secs)
        .map_err(|_| invalid_request!("this ad cannot be tracked"))?;
    let host;
    let base: [&str; 2] = match &delivery.public_url {
        Some(url) => [url, ""],
        None => {
            host = req
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            ["http://", host]
        }
    };
    Splice::new(&serving_id, &base, &token).map_err(|_| {
        invalid_request!("the Host header cannot be the base of an event URL; set --public-url")
    })
}
