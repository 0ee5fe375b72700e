//! `GET` or `POST /event?t=TOKEN&e=NAME[&code=N]` (public listener): a
//! player's beacon (README "Delivery").
//!
//! The token is verified (MAC, age), the `(serving_id, event)` pair is
//! counted at most once within `--event-ttl`, and the answer is `204`
//! either way, so a player that retries learns nothing it should act on.
//! Nothing here waits on the network: the ledger writes in batches.

use crate::answer::Answer;
use crate::delivery::counters::Refusal;
use crate::delivery::verify;
use crate::invalid_request;
use crate::ledger::{Day, Event, EventOutcome};
use crate::state::State;

pub(super) fn answer(state: &State, query: Option<&str>) -> Answer {
    let delivery = &state.delivery;
    let (token, name) = params(query.unwrap_or(""));
    let event = match name.map(str::parse::<Event>) {
        Some(Ok(event)) => event,
        Some(Err(_)) => {
            delivery.counters.rejected(Refusal::UnknownEvent);
            return Answer::Invalid(invalid_request!(
                "query parameter 'e' must be one of impression, start, firstQuartile, midpoint, thirdQuartile, complete, skip, click, error"
            ));
        }
        None => {
            delivery.counters.rejected(Refusal::UnknownEvent);
            return Answer::Invalid(invalid_request!("query parameter 'e' is required"));
        }
    };
    let Some(token) = token else {
        delivery.counters.rejected(Refusal::Missing);
        return Answer::InvalidEvent(None);
    };
    let now = u64::try_from(state.clock.now().timestamp()).unwrap_or(0);
    let verified = match verify(&delivery.key, token, now, delivery.event_ttl) {
        Ok(verified) => verified,
        Err(reject) => {
            delivery.counters.rejected(Refusal::Token(reject));
            return Answer::InvalidEvent(Some(reject));
        }
    };
    // Counted on the day the ad was served, so a repeat after midnight
    // meets the same dedup entry (and the same Redis key).
    let day = Day::from_unix_secs(verified.issued_at);
    let outcome = delivery
        .ledger
        .record_event(verified.serving_id.0, verified.ad_id(), day, event);
    match outcome {
        EventOutcome::Accepted => delivery.counters.accepted(event),
        EventOutcome::Duplicate => delivery.counters.duplicate(event),
    }
    Answer::EventAccepted
}

/// The first `t` and `e` values. Neither ever needs escaping (a token is
/// base64url, a name is letters), so they are read as they are.
fn params(query: &str) -> (Option<&str>, Option<&str>) {
    let (mut token, mut name) = (None, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "t" if token.is_none() => token = Some(value).filter(|v| !v.is_empty()),
            "e" if name.is_none() => name = Some(value),
            _ => {}
        }
    }
    (token, name)
}

#[cfg(test)]
mod tests {
    use super::params;

    #[test]
    fn the_first_t_and_e_are_taken() {
        assert_eq!(params("t=abc&e=start"), (Some("abc"), Some("start")));
        assert_eq!(params("e=start&code=3&t=x&t=y"), (Some("x"), Some("start")));
        assert_eq!(params("t=&e="), (None, Some("")));
        assert_eq!(params(""), (None, None));
    }
}
