//! Application heartbeats (heartbeat's apphbd): processes that promise to check in.
//!
//! A client registers a name with an interval over IPC and must check in at least that
//! often. A missed check-in, or a connection closed without unregistering (the process died),
//! becomes an event on the IPC stream, and — with `apphb_watchdog on` — a reason to stop
//! petting the watchdog. Registrations made with `persistent` are not bound to their
//! connection, for scripts (`hbctl apphb register`, then `hbctl apphb checkin` from a cron
//! job).
//!
//! [`Table`] is sans-I/O: the IPC thread feeds it requests and `now`, and asks
//! [`Table::poll_at`] when to look again. Bounded: at most [`MAX_APPS`] registrations.

use crate::time::Nanos;

/// Most registrations at once.
pub const MAX_APPS: usize = 64;
/// Longest name.
pub const MAX_NAME: usize = 64;

/// What happened to a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// Registered.
    Registered {
        /// Name.
        name: String,
        /// Promised interval.
        interval: Nanos,
    },
    /// The promised check-in did not come.
    Missed {
        /// Name.
        name: String,
        /// Time since the last check-in.
        silent: Nanos,
    },
    /// A check-in after a miss.
    Recovered {
        /// Name.
        name: String,
    },
    /// The client's connection closed without unregistering.
    Exited {
        /// Name.
        name: String,
    },
    /// Unregistered cleanly.
    Unregistered {
        /// Name.
        name: String,
    },
}

impl AppEvent {
    /// The event's name on the IPC stream.
    pub fn kind(&self) -> &'static str {
        match self {
            AppEvent::Registered { .. } => "apphb-registered",
            AppEvent::Missed { .. } => "apphb-missed",
            AppEvent::Recovered { .. } => "apphb-recovered",
            AppEvent::Exited { .. } => "apphb-exited",
            AppEvent::Unregistered { .. } => "apphb-unregistered",
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The name is taken by a live registration.
    #[error("{0:?} is already registered")]
    Taken(String),
    /// No such registration.
    #[error("{0:?} is not registered")]
    Unknown(String),
    /// The table is full.
    #[error("too many application heartbeats (at most {MAX_APPS})")]
    Full,
    /// A bad name or interval.
    #[error("{0}")]
    Invalid(String),
    /// The registration belongs to another user, or (connection-bound) to another connection.
    #[error("{name:?} belongs to {owner}")]
    NotOwner {
        /// The registration.
        name: String,
        /// Whose it is, for the message (`uid 1000`, `another connection`).
        owner: String,
    },
    /// Names starting `hb-` (hb's own daemons: `hb-crmd`) are for root and hbd's user.
    #[error("{0:?}: names starting \"hb-\" are reserved for hb's own daemons (root or hbd's user)")]
    Reserved(String),
}

/// Who is asking: the uid from the connection's credentials, and the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The client's uid.
    pub uid: u32,
    /// Its connection id.
    pub conn: u64,
    /// Root or hbd's own user.
    pub privileged: bool,
}

/// One registration, as `hbctl apphb status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Name.
    pub name: String,
    /// Promised interval.
    pub interval: Nanos,
    /// Last check-in (or registration).
    pub last: Nanos,
    /// Bound to this connection (None: persistent).
    pub conn: Option<u64>,
    /// Currently failed (missed, or exited).
    pub failed: bool,
    /// Its connection closed without unregistering.
    pub exited: bool,
    /// Check-ins so far.
    pub checkins: u64,
    /// The uid that registered it.
    pub owner: u32,
}

impl App {
    /// Whether `c` may check in for it: its owner, on its own connection when bound to one.
    fn may_check_in(&self, c: &Caller) -> Result<(), AppError> {
        if self.owner != c.uid {
            return Err(AppError::NotOwner { name: self.name.clone(), owner: format!("uid {}", self.owner) });
        }
        if self.conn.is_some_and(|id| id != c.conn) {
            return Err(AppError::NotOwner { name: self.name.clone(), owner: "another connection".into() });
        }
        Ok(())
    }
}

/// The registrations.
#[derive(Debug, Default)]
pub struct Table {
    apps: Vec<App>,
}

impl Table {
    /// Registers `name`. A failed registration of the same name (an exited process being
    /// restarted) is replaced.
    /// Only its owner may replace it; `persistent` registrations are not bound to `c.conn`.
    pub fn register(&mut self, name: &str, interval: Nanos, persistent: bool, c: &Caller, now: Nanos) -> Result<AppEvent, AppError> {
        if name.is_empty() || name.len() > MAX_NAME || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppError::Invalid(format!("name must be 1-{MAX_NAME} printable characters")));
        }
        if name.starts_with("hb-") && !c.privileged {
            return Err(AppError::Reserved(name.into()));
        }
        if interval < Nanos::from_millis(10) || interval > Nanos::from_millis(86_400_000) {
            return Err(AppError::Invalid("interval must be 10ms to 24h".into()));
        }
        if let Some(i) = self.apps.iter().position(|a| a.name == name) {
            if !self.apps[i].exited {
                return Err(AppError::Taken(name.into()));
            }
            if self.apps[i].owner != c.uid {
                return Err(AppError::NotOwner { name: name.into(), owner: format!("uid {}", self.apps[i].owner) });
            }
            self.apps.remove(i);
        }
        if self.apps.len() >= MAX_APPS {
            return Err(AppError::Full);
        }
        let conn = (!persistent).then_some(c.conn);
        self.apps.push(App { name: name.into(), interval, last: now, conn, failed: false, exited: false, checkins: 0, owner: c.uid });
        Ok(AppEvent::Registered { name: name.into(), interval })
    }

    /// A check-in; returns `Recovered` after a miss.
    pub fn checkin(&mut self, name: &str, c: &Caller, now: Nanos) -> Result<Option<AppEvent>, AppError> {
        let a = self.apps.iter_mut().find(|a| a.name == name && !a.exited).ok_or_else(|| AppError::Unknown(name.into()))?;
        a.may_check_in(c)?;
        a.last = now;
        a.checkins += 1;
        Ok(std::mem::replace(&mut a.failed, false).then(|| AppEvent::Recovered { name: name.into() }))
    }

    /// Unregisters cleanly: its owner (on its connection, when bound), or root for a
    /// persistent or exited registration (an administrator clearing a stale one).
    pub fn unregister(&mut self, name: &str, c: &Caller) -> Result<AppEvent, AppError> {
        let i = self.apps.iter().position(|a| a.name == name).ok_or_else(|| AppError::Unknown(name.into()))?;
        let a = &self.apps[i];
        let loose = a.exited || a.conn.is_none();
        if !(loose && (a.owner == c.uid || c.uid == 0)) {
            a.may_check_in(c)?;
        }
        self.apps.remove(i);
        Ok(AppEvent::Unregistered { name: name.into() })
    }

    /// A connection closed: its registrations are now "exited" (failed until re-registered
    /// or unregistered).
    pub fn connection_closed(&mut self, conn: u64, emit: &mut impl FnMut(AppEvent)) {
        for a in self.apps.iter_mut().filter(|a| a.conn == Some(conn) && !a.exited) {
            a.exited = true;
            a.failed = true;
            emit(AppEvent::Exited { name: a.name.clone() });
        }
    }

    /// Judges the deadlines at `now`.
    pub fn poll(&mut self, now: Nanos, emit: &mut impl FnMut(AppEvent)) {
        for a in self.apps.iter_mut().filter(|a| !a.failed && !a.exited) {
            let silent = now.sub(a.last);
            if silent > a.interval {
                a.failed = true;
                emit(AppEvent::Missed { name: a.name.clone(), silent });
            }
        }
    }

    /// When a deadline next falls.
    pub fn poll_at(&self) -> Nanos {
        self.apps.iter().filter(|a| !a.failed && !a.exited).map(|a| a.last.add(a.interval).add(Nanos(1))).min().unwrap_or(Nanos::MAX)
    }

    /// Whether any registration is failed (missed or exited).
    pub fn any_failed(&self) -> bool {
        self.apps.iter().any(|a| a.failed)
    }

    /// Last check-in of `name`, if registered and alive.
    pub fn last_checkin(&self, name: &str) -> Option<Nanos> {
        self.apps.iter().find(|a| a.name == name && !a.exited).map(|a| a.last)
    }

    /// All registrations.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn on(conn: u64) -> Caller {
        Caller { uid: 1000, conn, privileged: false }
    }

    fn events(t: &mut Table, now: u64) -> Vec<AppEvent> {
        let mut v = Vec::new();
        t.poll(Nanos(now * MS), &mut |e| v.push(e));
        v
    }

    #[test]
    fn miss_recover_exit_unregister() {
        let mut t = Table::default();
        assert!(matches!(t.register("db", Nanos::from_millis(100), false, &on(1), Nanos(0)), Ok(AppEvent::Registered { .. })));
        assert_eq!(t.poll_at(), Nanos(100 * MS + 1));
        assert_eq!(events(&mut t, 100), vec![]);
        assert_eq!(t.checkin("db", &on(1), Nanos(90 * MS)), Ok(None));
        assert_eq!(events(&mut t, 150), vec![]);
        assert_eq!(events(&mut t, 191), vec![AppEvent::Missed { name: "db".into(), silent: Nanos(101 * MS) }]);
        assert!(t.any_failed());
        assert_eq!(events(&mut t, 500), vec![], "a miss is reported once");
        assert_eq!(t.checkin("db", &on(1), Nanos(510 * MS)), Ok(Some(AppEvent::Recovered { name: "db".into() })));
        assert!(!t.any_failed());
        let mut v = Vec::new();
        t.connection_closed(1, &mut |e| v.push(e));
        assert_eq!(v, vec![AppEvent::Exited { name: "db".into() }]);
        assert!(t.any_failed());
        assert_eq!(t.checkin("db", &on(1), Nanos(600 * MS)), Err(AppError::Unknown("db".into())));
        // The restarted process registers again: allowed, replaces the exited one.
        assert!(t.register("db", Nanos::from_millis(100), false, &on(2), Nanos(700 * MS)).is_ok());
        assert!(!t.any_failed());
        assert_eq!(t.unregister("db", &on(2)), Ok(AppEvent::Unregistered { name: "db".into() }));
        assert_eq!(t.poll_at(), Nanos::MAX);
    }

    #[test]
    fn persistent_registrations_survive_their_connection() {
        let mut t = Table::default();
        t.register("cron", Nanos::from_millis(1000), true, &on(1), Nanos(0)).unwrap();
        let mut v = Vec::new();
        t.connection_closed(7, &mut |e| v.push(e));
        assert!(v.is_empty());
        assert_eq!(t.checkin("cron", &on(8), Nanos(900 * MS)), Ok(None));
    }

    #[test]
    fn refusals() {
        let mut t = Table::default();
        t.register("a", Nanos::from_millis(100), false, &on(1), Nanos(0)).unwrap();
        assert_eq!(t.register("a", Nanos::from_millis(100), false, &on(2), Nanos(0)), Err(AppError::Taken("a".into())));
        assert!(matches!(t.register("", Nanos::from_millis(100), true, &on(1), Nanos(0)), Err(AppError::Invalid(_))));
        assert!(matches!(t.register("b", Nanos::from_millis(1), true, &on(1), Nanos(0)), Err(AppError::Invalid(_))));
        assert_eq!(t.unregister("zz", &on(1)), Err(AppError::Unknown("zz".into())));
        for i in 1..MAX_APPS {
            t.register(&format!("x{i}"), Nanos::from_millis(100), true, &on(1), Nanos(0)).unwrap();
        }
        assert_eq!(t.register("one-too-many", Nanos::from_millis(100), true, &on(1), Nanos(0)), Err(AppError::Full));
    }

    /// Issue 13: another user (or another connection of the same user, for a connection-bound
    /// registration) can neither check in for nor unregister someone's application heartbeat.
    #[test]
    fn a_registration_belongs_to_its_user_and_connection() {
        let mut t = Table::default();
        let crm = Caller { uid: 0, conn: 1, privileged: true };
        let attacker = Caller { uid: 4242, conn: 2, privileged: false };
        t.register("hb-crmd", Nanos::from_millis(100), false, &crm, Nanos(0)).unwrap();
        assert!(matches!(t.checkin("hb-crmd", &attacker, Nanos(MS)), Err(AppError::NotOwner { .. })));
        assert!(matches!(t.unregister("hb-crmd", &attacker), Err(AppError::NotOwner { .. })));
        let root_elsewhere = Caller { conn: 3, ..crm };
        assert!(matches!(t.checkin("hb-crmd", &root_elsewhere, Nanos(MS)), Err(AppError::NotOwner { .. })), "bound to its connection");
        assert_eq!(t.checkin("hb-crmd", &crm, Nanos(MS)), Ok(None));
        // The CRM dies: its name cannot be taken over by another user, nor is hb- open to them.
        t.connection_closed(1, &mut |_| {});
        assert!(matches!(t.register("hb-crmd", Nanos::from_millis(100), false, &attacker, Nanos(2 * MS)), Err(AppError::Reserved(_))));
        assert!(matches!(t.register("hb-other", Nanos::from_millis(100), true, &attacker, Nanos(2 * MS)), Err(AppError::Reserved(_))));
        t.register("mine", Nanos::from_millis(100), true, &attacker, Nanos(0)).unwrap();
        t.connection_closed(2, &mut |_| {});
        assert!(matches!(t.register("mine", Nanos::from_millis(100), true, &on(5), Nanos(0)), Err(AppError::Taken(_))));
        // Root may clear a stale persistent registration of another user.
        assert!(t.unregister("mine", &root_elsewhere).is_ok());
        assert!(t.register("hb-crmd", Nanos::from_millis(100), false, &root_elsewhere, Nanos(3 * MS)).is_ok(), "the CRM comes back");
    }
}
