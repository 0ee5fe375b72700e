//! `GET /explain?country=…&lang=…[&hour=H][&exclude=…][&uid=…]` (admin
//! only): why each ad of a pair is or is not eligible (README "Targeting
//! extensions"), capped ads with their caps and counts (README "Budgets").

use bytes::Bytes;

use super::invalid_query;
use crate::answer::Answer;
use crate::budget::Player;
use crate::invalid_request;
use crate::query::{parse_ad_request, parse_hour};
use crate::state::State;

pub(super) fn answer(state: &State, query: Option<&str>) -> Answer {
    let request = match parse_ad_request(query) {
        Ok(request) => request,
        Err(e) => return Answer::Invalid(invalid_query(e)),
    };
    let Ok(hour) = parse_hour(query) else {
        return Answer::Invalid(invalid_request!(
            "query parameter 'hour' must be a whole hour, 0 to 23"
        ));
    };
    let Some(catalog) = &*state.catalog.load() else {
        return Answer::Unavailable;
    };
    let now = state.clock.now();
    let hour = hour.unwrap_or_else(|| state.hour_for(request.player, now));
    let player = request.uid.map(|hash| Player {
        hash,
        caps: &state.delivery.ledger.budgets().frequency,
        hour: (now.timestamp().max(0) / 3600) as u32,
    });
    let lookup = request.lookup(hour, now);
    let explanation = catalog.explain_for(&lookup, player);
    let body = simd_json::to_vec(&explanation).expect("an explanation always serialises");
    Answer::Json(Bytes::from(body))
}
