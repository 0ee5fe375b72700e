//! Limits on what one client may ask of the server: how long it may take to
//! send a request head, how big that head and its URI may be, and how many
//! connections may be open at once, with the file descriptors and listen
//! backlog those connections need.
//!
//! The tunable ones (`--header-timeout`, `--max-connections`,
//! `--admin-max-connections`) are fields of
//! [`crate::server::ServerOptions`]; the fixed ones are here, with the
//! responses for breaking them and the arithmetic over the caps.
//! [`crate::server`] applies them to sockets, hyper and the process's
//! `RLIMIT_NOFILE`; this module does no I/O.
//!
//! Headers per request are left at hyper's own cap of 100 (more gets 431):
//! setting any value, even 100, makes hyper allocate the header array on
//! the heap for every request.

use hyper::Uri;

/// Largest request head hyper buffers (request line plus headers). Beyond
/// it hyper answers `431 Request Header Fields Too Large` and closes. 8 KiB
/// is also the smallest buffer hyper accepts.
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Longest request target (path and query) served; longer gets `414`. It
/// must stay well under [`MAX_HEAD_BYTES`], or hyper's 431 would answer
/// first. The longest legitimate ad request is under 200 bytes.
pub(crate) const MAX_URI_BYTES: usize = 2 * 1024;

/// Whether a request target is over [`MAX_URI_BYTES`].
#[inline]
pub fn uri_too_long(uri: &Uri) -> bool {
    uri.path_and_query()
        .map_or(0, |target| target.as_str().len())
        > MAX_URI_BYTES
}

/// File descriptors kept beyond the two connection caps: the listeners,
/// the runtime's own (epoll, wakers, the signal pipe), stdio, a feed or key
/// set fetch each, the snapshot and its directory, name resolution, and one
/// accepted connection per listener waiting for a place under its cap.
/// About 20 are used; the rest is headroom.
pub(crate) const SPARE_FILES: u64 = 128;

/// Open files the process needs with `public` and `admin` connection caps.
pub(crate) fn files_needed(public: usize, admin: usize) -> u64 {
    public as u64 + admin as u64 + SPARE_FILES
}

/// What to do about `RLIMIT_NOFILE` given its `soft` and `hard` values and
/// what the caps `need`: nothing (`None`), raise the soft limit to
/// `Some(need)`, or refuse to start.
pub(crate) fn open_file_plan(
    soft: u64,
    hard: u64,
    public: usize,
    admin: usize,
) -> Result<Option<u64>, OpenFileLimitError> {
    let need = files_needed(public, admin);
    if soft >= need {
        Ok(None)
    } else if hard >= need {
        Ok(Some(need))
    } else {
        Err(OpenFileLimitError::HardLimitTooLow {
            hard,
            need,
            public,
            admin,
        })
    }
}

/// Why the process cannot have the open files its connection caps need.
#[derive(Debug, thiserror::Error)]
pub enum OpenFileLimitError {
    #[error(
        "RLIMIT_NOFILE (open files) hard limit is {hard}, but {need} are needed: \
         {public} for --max-connections, {admin} for --admin-max-connections and \
         {spare} for listeners, feed and key set fetches, the snapshot and logs; \
         raise the hard limit to at least {need} (ulimit -Hn {need}, systemd \
         LimitNOFILE={need}, docker run --ulimit nofile={need}:{need}) or lower the \
         connection caps",
        spare = SPARE_FILES
    )]
    HardLimitTooLow {
        hard: u64,
        need: u64,
        public: usize,
        admin: usize,
    },
    #[error("RLIMIT_NOFILE (open files) cannot be read or raised: {0}")]
    System(#[from] std::io::Error),
}

/// The accept queue asked of the kernel for a listener capped at `cap`.
///
/// The default of 128 (std's and mio's) overflows under a burst of
/// connects, and a client whose SYN is dropped retries only after 1, 3, 7 s:
/// that, not the server, is what a flood's victims wait for. So the queue is
/// at least 1,024 and as deep as the cap (a whole cap's worth of clients
/// reconnecting at once, as after a load balancer restart, fits); Linux
/// silently clamps it to `net.core.somaxconn` (4,096 by default since 5.4).
pub(crate) fn listen_backlog(cap: usize) -> u32 {
    cap.clamp(1024, 65_535) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_are_raised_to_what_the_caps_need_or_refused() {
        let need = 200 + 64 + SPARE_FILES;
        assert_eq!(files_needed(200, 64), need);
        // (soft, hard) -> plan
        assert_eq!(open_file_plan(1024, 4096, 200, 64).unwrap(), None);
        assert_eq!(open_file_plan(need, need, 200, 64).unwrap(), None);
        assert_eq!(open_file_plan(256, 4096, 200, 64).unwrap(), Some(need));
        assert_eq!(open_file_plan(256, u64::MAX, 200, 64).unwrap(), Some(need));
        let refused = open_file_plan(256, 256, 200, 64).unwrap_err();
        let message = refused.to_string();
        for part in [
            "RLIMIT_NOFILE",
            "hard limit is 256",
            &format!("{need} are needed"),
            "200 for --max-connections",
            "64 for --admin-max-connections",
            "ulimit -Hn",
        ] {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    }

    #[test]
    fn the_backlog_is_deep_enough_for_a_burst() {
        assert_eq!(listen_backlog(1), 1024);
        assert_eq!(listen_backlog(200), 1024);
        assert_eq!(listen_backlog(10_000), 10_000);
        assert_eq!(listen_backlog(1_000_000), 65_535);
    }

    #[test]
    fn uri_limit_is_on_path_and_query() {
        let ok: Uri = format!("/ad_request?x={}", "a".repeat(MAX_URI_BYTES - 14))
            .parse()
            .unwrap();
        assert_eq!(ok.path_and_query().unwrap().as_str().len(), MAX_URI_BYTES);
        assert!(!uri_too_long(&ok));
        let long: Uri = format!("/ad_request?x={}", "a".repeat(MAX_URI_BYTES))
            .parse()
            .unwrap();
        assert!(uri_too_long(&long));
    }

    #[test]
    fn limits_fit_inside_the_head_buffer() {
        const { assert!(MAX_URI_BYTES * 2 <= MAX_HEAD_BYTES) };
    }
}
