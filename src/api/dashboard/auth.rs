//! The dashboard's logins: one-time codes traded for session cookies, and the sessions'
//! CSRF tokens. All in the agent's memory: a restart of the agent logs everyone out.
//!
//! # Why codes, not the token in a URL
//!
//! The browser's history keeps every URL it opened. The admin token never goes into one:
//! `plantsync dashboard` (or the tray) asks `POST /api/dashboard/login-code` with the token
//! and opens `/login?code=...`; the code works once and for [`CODE_LIFETIME`], and the
//! login answers with a redirect to `/`, so what stays in the history is spent.
//!
//! Codes and session ids are 256 random bits, kept only as their SHA-256 (a lookup's time
//! says nothing about a stored value, and a memory dump holds no usable id). CSRF tokens are
//! compared in constant time. None of them is ever logged or put in an error.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a login code is valid.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// A session unused this long is gone.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Codes outstanding at most (a loop asking for codes cannot grow memory).
const MAX_CODES: usize = 32;
/// Sessions at most; past it the least recently used one goes.
const MAX_SESSIONS: usize = 64;

/// 256 random bits as 64 hex digits.
pub fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// One logged-in browser.
#[derive(Debug)]
struct Session {
    /// The token its forms carry.
    csrf: String,
    last_seen: Instant,
    /// A message for its next page ("Sync started ...").
    flash: Option<String>,
}

/// A session as a page sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The CSRF token for the page's forms.
    pub csrf: String,
    /// The message left for this page, taken (shown once).
    pub flash: Option<String>,
}

/// Why a code did not log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefused {
    /// Never issued, or already used.
    Unknown,
    /// Issued, but older than [`CODE_LIFETIME`].
    Expired,
}

#[derive(Debug, Default)]
struct Inner {
    /// Code digest → when it was issued.
    codes: HashMap<[u8; 32], Instant>,
    /// Session id digest → session.
    sessions: HashMap<[u8; 32], Session>,
}

/// The codes and sessions of one running agent.
#[derive(Debug, Default)]
pub struct Logins {
    inner: Mutex<Inner>,
}

impl Logins {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new single-use login code, valid for [`CODE_LIFETIME`] from `now`.
    pub fn issue_code(&self, now: Instant) -> Result<String, getrandom::Error> {
        let code = random_hex()?;
        let mut inner = self.lock();
        inner.codes.retain(|_, issued| now.duration_since(*issued) < CODE_LIFETIME);
        if inner.codes.len() >= MAX_CODES {
            // The oldest code makes room: a person runs the command again.
            if let Some(oldest) = inner.codes.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k) {
                inner.codes.remove(&oldest);
            }
        }
        inner.codes.insert(digest(&code), now);
        Ok(code)
    }

    /// Trades `code` (once) for a new session: its id (the cookie's value).
    pub fn redeem(
        &self,
        code: &str,
        now: Instant,
    ) -> Result<Result<String, CodeRefused>, getrandom::Error> {
        let (id, csrf) = (random_hex()?, random_hex()?);
        let mut inner = self.lock();
        let Some(issued) = inner.codes.remove(&digest(code)) else {
            return Ok(Err(CodeRefused::Unknown));
        };
        if now.duration_since(issued) >= CODE_LIFETIME {
            return Ok(Err(CodeRefused::Expired));
        }
        inner.sessions.retain(|_, s| now.duration_since(s.last_seen) < SESSION_IDLE);
        if inner.sessions.len() >= MAX_SESSIONS {
            let oldest = inner.sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                inner.sessions.remove(&oldest);
            }
        }
        inner.sessions.insert(digest(&id), Session { csrf, last_seen: now, flash: None });
        Ok(Ok(id))
    }

    /// The live session of cookie value `id` (and its flash, taken), marking it used.
    pub fn session(&self, id: &str, now: Instant) -> Option<SessionView> {
        Self::touch(&mut self.lock(), id, now)
            .map(|s| SessionView { csrf: s.csrf.clone(), flash: s.flash.take() })
    }

    /// Whether `presented` is the CSRF token of session `id` (constant time); marks it used.
    pub fn check_csrf(&self, id: &str, presented: &str, now: Instant) -> bool {
        Self::touch(&mut self.lock(), id, now)
            .is_some_and(|s| super::super::same(&s.csrf, presented))
    }

    /// The live session `id`, marked used at `now`; an idle one is removed.
    fn touch<'a>(inner: &'a mut Inner, id: &str, now: Instant) -> Option<&'a mut Session> {
        let key = digest(id);
        if inner.sessions.get(&key).is_some_and(|s| now.duration_since(s.last_seen) >= SESSION_IDLE)
        {
            inner.sessions.remove(&key);
            return None;
        }
        let session = inner.sessions.get_mut(&key)?;
        session.last_seen = now;
        Some(session)
    }

    /// Leaves `message` for the next page of session `id`.
    pub fn flash(&self, id: &str, message: String) {
        if let Some(session) = self.lock().sessions.get_mut(&digest(id)) {
            session.flash = Some(message);
        }
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.lock().sessions.remove(&digest(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_logs_in_once() {
        let logins = Logins::default();
        let now = Instant::now();
        let code = logins.issue_code(now).unwrap();
        assert_eq!(code.len(), 64);
        let id = logins.redeem(&code, now).unwrap().unwrap();
        assert_eq!(logins.redeem(&code, now).unwrap(), Err(CodeRefused::Unknown));
        assert!(logins.session(&id, now).is_some());
        assert!(logins.session("not-a-session", now).is_none());
        assert_eq!(logins.redeem("made-up", now).unwrap(), Err(CodeRefused::Unknown));
    }

    #[test]
    fn an_old_code_is_expired_and_spent() {
        let logins = Logins::default();
        let now = Instant::now();
        let code = logins.issue_code(now).unwrap();
        let later = now + CODE_LIFETIME;
        assert_eq!(logins.redeem(&code, later).unwrap(), Err(CodeRefused::Expired));
        assert_eq!(logins.redeem(&code, now).unwrap(), Err(CodeRefused::Unknown));
    }

    #[test]
    fn an_idle_session_ends_and_use_keeps_one_alive() {
        let logins = Logins::default();
        let now = Instant::now();
        let id = logins.redeem(&logins.issue_code(now).unwrap(), now).unwrap().unwrap();
        let csrf = logins.session(&id, now).unwrap().csrf;
        let soon = now + SESSION_IDLE - Duration::from_secs(1);
        assert!(logins.check_csrf(&id, &csrf, soon));
        assert!(!logins.check_csrf(&id, "wrong", soon));
        assert!(logins.session(&id, soon + SESSION_IDLE - Duration::from_secs(1)).is_some());
        assert!(logins.session(&id, soon + SESSION_IDLE * 3).is_none());
        assert!(!logins.check_csrf(&id, &csrf, soon), "an ended session stays ended");
    }

    #[test]
    fn a_flash_is_shown_once_and_logout_ends_the_session() {
        let logins = Logins::default();
        let now = Instant::now();
        let id = logins.redeem(&logins.issue_code(now).unwrap(), now).unwrap().unwrap();
        logins.flash(&id, "done".into());
        assert_eq!(logins.session(&id, now).unwrap().flash.as_deref(), Some("done"));
        assert_eq!(logins.session(&id, now).unwrap().flash, None);
        logins.end(&id);
        assert!(logins.session(&id, now).is_none());
    }

    #[test]
    fn codes_and_sessions_are_bounded() {
        let logins = Logins::default();
        let now = Instant::now();
        let codes: Vec<String> =
            (0..MAX_CODES + 5).map(|_| logins.issue_code(now).unwrap()).collect();
        assert_eq!(logins.lock().codes.len(), MAX_CODES);
        for code in codes.iter().rev().take(MAX_SESSIONS.min(MAX_CODES)) {
            let _ = logins.redeem(code, now).unwrap();
        }
        assert!(logins.lock().sessions.len() <= MAX_SESSIONS);
    }
}
