//! An IPVS table held in memory with the kernel's semantics (as of Linux 6.1,
//! `net/netfilter/ipvs/ip_vs_ctl.c`): the same errno for the same mistake, the
//! same replace-everything edits, the same trash list for deleted real servers.
//!
//! It stands in for the kernel in tests of every layer above the driver, and
//! adds what a test needs and a kernel cannot give: injected failures, and
//! connection counts and statistics set by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use super::error::{BatchError, Error, Outcome, errno};
use super::table::{IpvsTable, Snapshot};
use super::types::{
    Daemon, Dest, DestEntry, DestKey, Info, Op, Service, ServiceEntry, Stats, Timeouts, fwd,
    svc_flags, tun,
};
use crate::model::{AddressFamily, DaemonRole, Scheduler, ServiceKey};

/// Connection timeouts of a freshly loaded `ip_vs` module.
pub const KERNEL_DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    tcp: 900,
    tcp_fin: 120,
    udp: 300,
};

/// `HZ` of the kernel modelled (Debian's kernels): timeouts are stored in
/// jiffies, so the kernel refuses any above `INT_MAX / HZ` seconds.
const HZ: u32 = 250;

/// The version `GET_INFO` reports (IPVS 1.2.1, unchanged for years).
const IPVS_VERSION: u32 = (1 << 16) | (2 << 8) | 1;
/// The connection table size of a default `ip_vs` module (`conn_tab_bits=12`).
const CONN_TAB_SIZE: u32 = 1 << 12;

/// Schedulers a Linux 6.1 kernel can load: every mainline one but `twos` (6.2).
pub fn linux_6_1_schedulers() -> impl Iterator<Item = &'static str> {
    Scheduler::ALL
        .into_iter()
        .filter(|s| *s != Scheduler::Twos)
        .map(Scheduler::as_str)
}

/// Live connection counts of a real server, as `ipvsadm -L` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conns {
    pub active: u32,
    pub inactive: u32,
    /// Persistence templates pointing at the server.
    pub persistent: u32,
}

type Predicate = Box<dyn Fn(&Op) -> bool + Send + Sync>;

/// A failure a test asked for.
struct InjectedFailure {
    matches: Predicate,
    errno: i32,
    /// How many more times it fires; `None` for ever.
    remaining: Option<usize>,
}

struct ServiceSlot {
    service: Service,
    stats: Stats,
    dests: BTreeMap<DestKey, DestEntry>,
}

/// An IPVS table in memory. See the module documentation.
pub struct MemoryTable {
    services: BTreeMap<ServiceKey, ServiceSlot>,
    /// Deleted real servers, by the service they belonged to. The kernel keeps
    /// them (with their connections and counters) for a while and revives one
    /// when the same server is added to the same service again.
    trash: BTreeMap<(ServiceKey, DestKey), DestEntry>,
    timeouts: Timeouts,
    daemons: BTreeMap<DaemonRole, Daemon>,
    schedulers: BTreeSet<String>,
    persistence_engines: BTreeSet<String>,
    /// Interfaces a sync daemon may use; `None` accepts any name.
    interfaces: Option<BTreeSet<String>>,
    failures: Vec<InjectedFailure>,
    unavailable: Option<String>,
    applied: Vec<Op>,
    reads: Reads,
}

/// How often the table was read, whole or in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reads {
    /// `snapshot`: the whole table.
    pub full: usize,
    /// `snapshot_of`: some services, the timeouts and the daemons.
    pub partial: usize,
    /// Services read by `snapshot_of`, all calls together.
    pub services: usize,
}

impl Default for MemoryTable {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTable")
            .field("snapshot", &self.snapshot_now())
            .field("trash", &self.trash.keys().collect::<Vec<_>>())
            .field("schedulers", &self.schedulers)
            .field("injected_failures", &self.failures.len())
            .field("unavailable", &self.unavailable)
            .finish()
    }
}

impl MemoryTable {
    /// An empty table of a Linux 6.1 kernel: its schedulers, the `sip`
    /// persistence engine, default timeouts, no sync daemon.
    pub fn new() -> Self {
        MemoryTable {
            services: BTreeMap::new(),
            trash: BTreeMap::new(),
            timeouts: KERNEL_DEFAULT_TIMEOUTS,
            daemons: BTreeMap::new(),
            schedulers: linux_6_1_schedulers().map(str::to_string).collect(),
            persistence_engines: ["sip".to_string()].into(),
            interfaces: None,
            failures: Vec::new(),
            unavailable: None,
            applied: Vec::new(),
            reads: Reads::default(),
        }
    }

    /// A Linux 6.1 table holding exactly what `snapshot` holds, counters
    /// included, taken as the kernel state without any check.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        let mut table = Self::new();
        table.load(snapshot);
        table
    }

    /// Replaces the table's contents (not its configuration) with `snapshot`'s.
    pub fn load(&mut self, snapshot: &Snapshot) {
        self.services = snapshot
            .services
            .iter()
            .map(|entry| {
                let dests = entry
                    .dests
                    .iter()
                    .map(|d| (d.dest.key, d.clone()))
                    .collect();
                let slot = ServiceSlot {
                    service: entry.service.clone(),
                    stats: entry.stats,
                    dests,
                };
                (entry.service.key, slot)
            })
            .collect();
        self.trash.clear();
        self.timeouts = snapshot.timeouts;
        self.daemons = snapshot
            .daemons
            .iter()
            .map(|d| (d.role, d.clone()))
            .collect();
    }

    /// The schedulers this kernel can load; others fail with ENOENT.
    pub fn with_schedulers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.schedulers = names.into_iter().map(Into::into).collect();
        self
    }

    /// The persistence engines this kernel can load; others fail with ENOENT.
    pub fn with_persistence_engines<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.persistence_engines = names.into_iter().map(Into::into).collect();
        self
    }

    /// The network interfaces of the host: a sync daemon on any other fails with ENODEV.
    pub fn with_interfaces<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.interfaces = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Every later operation matching `predicate` fails with `errno` and has no effect.
    pub fn fail_on(&mut self, predicate: impl Fn(&Op) -> bool + Send + Sync + 'static, errno: i32) {
        self.failures.push(InjectedFailure {
            matches: Box::new(predicate),
            errno,
            remaining: None,
        });
    }

    /// The next operation matching `predicate` fails with `errno`; later ones succeed.
    pub fn fail_once(
        &mut self,
        predicate: impl Fn(&Op) -> bool + Send + Sync + 'static,
        errno: i32,
    ) {
        self.failures.push(InjectedFailure {
            matches: Box::new(predicate),
            errno,
            remaining: Some(1),
        });
    }

    pub fn clear_failures(&mut self) {
        self.failures.clear();
    }

    /// Makes the table behave as a host without IPVS (`Some(reason)`), or with it again (`None`).
    pub fn set_unavailable(&mut self, reason: Option<&str>) {
        self.unavailable = reason.map(str::to_string);
    }

    /// Sets the live connection counts of a real server.
    ///
    /// # Panics
    /// When the table has no such real server: a mistake in the test.
    pub fn set_conns(&mut self, service: &ServiceKey, dest: &DestKey, conns: Conns) {
        let entry = self.dest_mut(service, dest, "set_conns");
        entry.active_conns = conns.active;
        entry.inact_conns = conns.inactive;
        entry.persist_conns = conns.persistent;
    }

    /// Sets the counters of a real server.
    ///
    /// # Panics
    /// When the table has no such real server.
    pub fn set_dest_stats(&mut self, service: &ServiceKey, dest: &DestKey, stats: Stats) {
        self.dest_mut(service, dest, "set_dest_stats").stats = stats;
    }

    /// Sets the counters of a service.
    ///
    /// # Panics
    /// When the table has no such service.
    pub fn set_service_stats(&mut self, service: &ServiceKey, stats: Stats) {
        match self.services.get_mut(service) {
            Some(slot) => slot.stats = stats,
            None => panic!("set_service_stats: no service {service} in the table"),
        }
    }

    fn dest_mut(&mut self, service: &ServiceKey, dest: &DestKey, caller: &str) -> &mut DestEntry {
        match self
            .services
            .get_mut(service)
            .and_then(|slot| slot.dests.get_mut(dest))
        {
            Some(entry) => entry,
            None => panic!("{caller}: no real server {dest} in service {service}"),
        }
    }

    /// How often the table was read through `IpvsTable`.
    pub fn reads(&self) -> Reads {
        self.reads
    }

    /// Every operation that took effect, in order.
    pub fn applied(&self) -> &[Op] {
        &self.applied
    }

    /// Deleted real servers the kernel still remembers, by service.
    pub fn trash(&self) -> impl Iterator<Item = &(ServiceKey, DestKey)> {
        self.trash.keys()
    }

    /// Forgets deleted real servers, as the kernel does once they sit idle long enough.
    pub fn empty_trash(&mut self) {
        self.trash.clear();
    }

    /// The table as it is now, sorted as `Snapshot` documents.
    pub fn snapshot_now(&self) -> Snapshot {
        Snapshot {
            services: self
                .services
                .values()
                .map(|slot| ServiceEntry {
                    service: slot.service.clone(),
                    stats: slot.stats,
                    dests: slot.dests.values().cloned().collect(),
                })
                .collect(),
            timeouts: self.timeouts,
            daemons: self.daemons.values().cloned().collect(),
        }
    }

    /// Runs one operation as the kernel would.
    pub fn execute(&mut self, op: &Op) -> Result<(), Error> {
        if let Some(reason) = &self.unavailable {
            return Err(Error::Unavailable(reason.clone()));
        }
        if let Some(code) = self.injected_failure(op) {
            return Err(Error::kernel(op, code));
        }
        self.run(op).map_err(|code| Error::kernel(op, code))?;
        self.applied.push(op.clone());
        Ok(())
    }

    fn injected_failure(&mut self, op: &Op) -> Option<i32> {
        let i = self.failures.iter().position(|f| (f.matches)(op))?;
        let failure = &mut self.failures[i];
        let code = failure.errno;
        match &mut failure.remaining {
            Some(1) => {
                self.failures.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(code)
    }

    /// The kernel's handling of one command: `Err(errno)` leaves the table as it was.
    fn run(&mut self, op: &Op) -> Result<(), i32> {
        match op {
            Op::AddService(s) => self.add_service(s),
            Op::EditService(s) => self.edit_service(s),
            Op::DelService(key) => self.del_service(key),
            Op::AddDest(key, d) => self.add_dest(key, d),
            Op::EditDest(key, d) => self.edit_dest(key, d),
            Op::DelDest(key, dest) => self.del_dest(key, dest),
            Op::SetTimeouts(t) => self.set_timeouts(t),
            Op::StartDaemon(d) => self.start_daemon(d),
            Op::StopDaemon(role) => self.daemons.remove(role).map(drop).ok_or(errno::ESRCH),
            Op::Flush => {
                let keys: Vec<_> = self.services.keys().copied().collect();
                for key in keys {
                    self.del_service(&key)?;
                }
                Ok(())
            }
            Op::Zero(Some(key)) => self
                .services
                .get_mut(key)
                .map(zero_service)
                .ok_or(errno::ESRCH),
            Op::Zero(None) => {
                self.services.values_mut().for_each(zero_service);
                Ok(())
            }
        }
    }

    fn add_service(&mut self, s: &Service) -> Result<(), i32> {
        // The kernel looks the service up before it reads the options.
        if self.services.contains_key(&s.key) {
            return Err(errno::EEXIST);
        }
        self.check_service(s)?;
        let slot = ServiceSlot {
            service: stored_service(s),
            stats: Stats::default(),
            dests: BTreeMap::new(),
        };
        self.services.insert(s.key, slot);
        Ok(())
    }

    /// SET_SERVICE replaces every option, persistence engine included
    /// (`ip_vs_edit_service` rebinds scheduler and engine in place).
    fn edit_service(&mut self, s: &Service) -> Result<(), i32> {
        if !self.services.contains_key(&s.key) {
            return Err(errno::ESRCH);
        }
        self.check_service(s)?;
        self.services
            .get_mut(&s.key)
            .expect("checked above")
            .service = stored_service(s);
        Ok(())
    }

    fn del_service(&mut self, key: &ServiceKey) -> Result<(), i32> {
        let slot = self.services.remove(key).ok_or(errno::ESRCH)?;
        for (dest, entry) in slot.dests {
            self.trash.insert((*key, dest), entry);
        }
        Ok(())
    }

    /// What `ip_vs_add_service` and `ip_vs_edit_service` check, in their order.
    fn check_service(&self, s: &Service) -> Result<(), i32> {
        if !self.schedulers.contains(&s.scheduler) {
            return Err(errno::ENOENT);
        }
        if let Some(pe) = s.pe_name.as_deref().filter(|pe| !pe.is_empty())
            && !self.persistence_engines.contains(pe)
        {
            return Err(errno::ENOENT);
        }
        if s.key.family() == AddressFamily::Ipv6 && !(1..=128).contains(&s.netmask) {
            return Err(errno::EINVAL);
        }
        Ok(())
    }

    fn add_dest(&mut self, key: &ServiceKey, d: &Dest) -> Result<(), i32> {
        self.check_dest(key, d)?;
        let slot = self
            .services
            .get_mut(key)
            .expect("check_dest found the service");
        if slot.dests.contains_key(&d.key) {
            return Err(errno::EEXIST);
        }
        // A server deleted from this service comes back from the trash with
        // its connections and counters; only a new one has its address checked.
        let entry = match self.trash.remove(&(*key, d.key)) {
            Some(old) => DestEntry {
                dest: stored_dest(d),
                ..old
            },
            None => {
                if !is_forwardable(d.key.addr) {
                    return Err(errno::EINVAL);
                }
                let stats = Stats::default();
                DestEntry {
                    dest: stored_dest(d),
                    active_conns: 0,
                    inact_conns: 0,
                    persist_conns: 0,
                    stats,
                }
            }
        };
        slot.dests.insert(d.key, entry);
        Ok(())
    }

    /// SET_DEST replaces every option, forwarding method included; live
    /// connections and counters stay.
    fn edit_dest(&mut self, key: &ServiceKey, d: &Dest) -> Result<(), i32> {
        self.check_dest(key, d)?;
        let slot = self
            .services
            .get_mut(key)
            .expect("check_dest found the service");
        let entry = slot.dests.get_mut(&d.key).ok_or(errno::ENOENT)?;
        entry.dest = stored_dest(d);
        Ok(())
    }

    fn del_dest(&mut self, key: &ServiceKey, dest: &DestKey) -> Result<(), i32> {
        let slot = self.services.get_mut(key).ok_or(errno::ESRCH)?;
        let entry = slot.dests.remove(dest).ok_or(errno::ENOENT)?;
        self.trash.insert((*key, *dest), entry);
        Ok(())
    }

    /// What `ip_vs_genl_set_cmd` and `ip_vs_add_dest`/`ip_vs_edit_dest` check
    /// before looking the real server up, in their order.
    fn check_dest(&self, key: &ServiceKey, d: &Dest) -> Result<(), i32> {
        if !self.services.contains_key(key) {
            return Err(errno::ESRCH);
        }
        if AddressFamily::of(d.key.addr) != key.family() {
            // The sync protocol cannot carry mixed families, and only a
            // tunnel can carry a packet into the other family.
            if !self.daemons.is_empty() || d.fwd_method & fwd::MASK != fwd::TUNNEL {
                return Err(errno::EINVAL);
            }
        }
        // The kernel reads the weight as a signed int.
        if d.weight > i32::MAX as u32 || d.l_threshold > d.u_threshold {
            return Err(errno::ERANGE);
        }
        if d.tun_type == tun::GUE && d.tun_port == 0 {
            return Err(errno::EINVAL);
        }
        Ok(())
    }

    /// `--set`: each field 0 leaves that timeout as it is.
    fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), i32> {
        let max = i32::MAX as u32 / HZ;
        if [t.tcp, t.tcp_fin, t.udp].iter().any(|&secs| secs > max) {
            return Err(errno::EINVAL);
        }
        let current = &mut self.timeouts;
        for (new, field) in [
            (t.tcp, &mut current.tcp),
            (t.tcp_fin, &mut current.tcp_fin),
            (t.udp, &mut current.udp),
        ] {
            if new != 0 {
                *field = new;
            }
        }
        Ok(())
    }

    fn start_daemon(&mut self, d: &Daemon) -> Result<(), i32> {
        // `ip_vs_genl_new_daemon` refuses mixed families before `start_sync_thread` runs.
        if self.has_mixed_family_dests() {
            return Err(errno::EINVAL);
        }
        if self.daemons.contains_key(&d.role) {
            return Err(errno::EEXIST);
        }
        if let Some(interfaces) = &self.interfaces
            && !interfaces.contains(&d.mcast_ifn)
        {
            return Err(errno::ENODEV);
        }
        self.daemons.insert(d.role, with_kernel_defaults(d));
        Ok(())
    }

    fn has_mixed_family_dests(&self) -> bool {
        self.services.values().any(|slot| {
            slot.dests
                .keys()
                .any(|dest| AddressFamily::of(dest.addr) != slot.service.key.family())
        })
    }
}

impl IpvsTable for MemoryTable {
    fn info(&mut self) -> Result<Info, Error> {
        match &self.unavailable {
            Some(reason) => Err(Error::Unavailable(reason.clone())),
            None => Ok(Info {
                version: IPVS_VERSION,
                conn_tab_size: CONN_TAB_SIZE,
            }),
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot, Error> {
        match &self.unavailable {
            Some(reason) => Err(Error::Unavailable(reason.clone())),
            None => {
                self.reads.full += 1;
                Ok(self.snapshot_now())
            }
        }
    }

    fn snapshot_of(&mut self, keys: &BTreeSet<ServiceKey>) -> Result<Snapshot, Error> {
        if let Some(reason) = &self.unavailable {
            return Err(Error::Unavailable(reason.clone()));
        }
        self.reads.partial += 1;
        let services: Vec<ServiceEntry> = keys
            .iter()
            .filter_map(|key| self.services.get(key))
            .map(|slot| ServiceEntry {
                service: slot.service.clone(),
                stats: slot.stats,
                dests: slot.dests.values().cloned().collect(),
            })
            .collect();
        self.reads.services += services.len();
        Ok(Snapshot {
            services,
            timeouts: self.timeouts,
            daemons: self.daemons.values().cloned().collect(),
        })
    }

    fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut failed = false;
        for op in ops {
            if failed {
                outcomes.push(Outcome::NotSent);
                continue;
            }
            match self.execute(op) {
                Ok(()) => outcomes.push(Outcome::Applied),
                Err(err) => {
                    failed = true;
                    outcomes.push(Outcome::Failed(err));
                }
            }
        }
        if failed {
            Err(BatchError { outcomes })
        } else {
            Ok(())
        }
    }

    /// An in-memory table carries no traffic, so it has no connection entries.
    fn connections(&mut self) -> Result<Vec<super::conns::Connection>, Error> {
        Ok(Vec::new())
    }
}

/// A service as the driver reads it back: the kernel adds `HASHED` (masked
/// off when read), and an empty engine name means none.
fn stored_service(s: &Service) -> Service {
    Service {
        flags: s.flags & svc_flags::SETTABLE,
        pe_name: s.pe_name.clone().filter(|pe| !pe.is_empty()),
        ..s.clone()
    }
}

fn stored_dest(d: &Dest) -> Dest {
    Dest {
        fwd_method: d.fwd_method & fwd::MASK,
        ..*d
    }
}

fn zero_service(slot: &mut ServiceSlot) {
    slot.stats = Stats::default();
    for entry in slot.dests.values_mut() {
        entry.stats = Stats::default();
    }
}

/// Whether `ip_vs_new_dest` accepts the address. The kernel also asks the
/// routing table (an address without a route is refused); memory has no routes.
fn is_forwardable(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_unspecified() || v6.is_multicast() || link_local)
        }
    }
}

/// A daemon as the kernel reports it once running: what was left out is
/// filled with the kernel's defaults (for an interface with MTU 1500).
fn with_kernel_defaults(d: &Daemon) -> Daemon {
    let group = d.mcast_group.unwrap_or(IpAddr::from([224, 0, 0, 81]));
    let headers = if group.is_ipv4() { 20 + 8 } else { 40 + 8 };
    Daemon {
        sync_maxlen: d
            .sync_maxlen
            .filter(|&len| len != 0)
            .or(Some(1500 - headers)),
        mcast_group: Some(group),
        mcast_port: d.mcast_port.filter(|&port| port != 0).or(Some(8848)),
        mcast_ttl: d.mcast_ttl.filter(|&ttl| ttl != 0).or(Some(1)),
        ..d.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn svc_key(id: &str) -> ServiceKey {
        id.parse().unwrap()
    }

    fn service(id: &str, scheduler: &str) -> Service {
        let key = svc_key(id);
        let netmask = if key.family() == AddressFamily::Ipv4 {
            u32::MAX
        } else {
            128
        };
        Service {
            key,
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            netmask,
            pe_name: None,
        }
    }

    fn dest(addr: &str, weight: u32) -> Dest {
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        Dest {
            key: DestKey {
                addr: addr.ip(),
                port: addr.port(),
            },
            fwd_method: fwd::MASQ,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
        }
    }

    const WEB: &str = "tcp:192.168.31.100:80";

    /// A table with WEB (wrr) holding one NAT server 172.25.0.31:80 of weight 1.
    fn web_table() -> MemoryTable {
        let mut table = MemoryTable::new();
        table
            .apply(&[
                Op::AddService(service(WEB, "wrr")),
                Op::AddDest(svc_key(WEB), dest("172.25.0.31:80", 1)),
            ])
            .unwrap();
        table
    }

    /// The errno of running `op` alone on `table`, which it must leave unchanged.
    fn errno_of(table: &mut MemoryTable, op: Op) -> i32 {
        let before = table.snapshot_now();
        let err = table.execute(&op).unwrap_err();
        assert_eq!(
            table.snapshot_now(),
            before,
            "a failed {op:?} changed the table"
        );
        err.errno().unwrap()
    }

    #[test]
    fn adds_edits_and_deletes_like_the_kernel() {
        let mut table = web_table();
        let mut edited = service(WEB, "rr");
        edited.flags = svc_flags::PERSISTENT | svc_flags::HASHED;
        edited.timeout = 300;
        table
            .apply(&[
                Op::EditService(edited),
                Op::EditDest(
                    svc_key(WEB),
                    Dest {
                        fwd_method: fwd::DROUTE,
                        ..dest("172.25.0.31:80", 5)
                    },
                ),
                Op::AddDest(svc_key(WEB), dest("172.25.0.32:80", 2)),
            ])
            .unwrap();
        let snap = table.snapshot().unwrap();
        let entry = &snap.services[0];
        assert_eq!(entry.service.scheduler, "rr");
        assert_eq!(
            entry.service.flags,
            svc_flags::PERSISTENT,
            "HASHED is never reported"
        );
        let dests: Vec<_> = entry
            .dests
            .iter()
            .map(|d| (d.dest.key.to_string(), d.dest.weight, d.dest.fwd_method))
            .collect();
        let expected = [
            ("172.25.0.31:80".to_string(), 5, fwd::DROUTE),
            ("172.25.0.32:80".to_string(), 2, fwd::MASQ),
        ];
        assert_eq!(dests, expected);

        table
            .apply(&[
                Op::DelDest(svc_key(WEB), dest("172.25.0.31:80", 0).key),
                Op::DelService(svc_key(WEB)),
            ])
            .unwrap();
        assert!(table.snapshot().unwrap().services.is_empty());
        assert_eq!(
            table.applied().len(),
            7,
            "2 to set up, 3 edits, 2 deletions"
        );
    }

    #[test]
    fn service_errors() {
        let mut table = web_table();
        assert_eq!(
            errno_of(&mut table, Op::AddService(service(WEB, "rr"))),
            errno::EEXIST
        );
        assert_eq!(
            errno_of(
                &mut table,
                Op::EditService(service("tcp:10.0.0.1:80", "rr"))
            ),
            errno::ESRCH
        );
        assert_eq!(
            errno_of(&mut table, Op::DelService(svc_key("udp:192.168.31.100:80"))),
            errno::ESRCH
        );
        assert_eq!(
            errno_of(&mut table, Op::Zero(Some(svc_key("fwmark:1")))),
            errno::ESRCH
        );
        // Unknown schedulers and engines: ENOENT, whether adding or editing.
        assert_eq!(
            errno_of(
                &mut table,
                Op::AddService(service("tcp:10.0.0.1:80", "twos"))
            ),
            errno::ENOENT
        );
        assert_eq!(
            errno_of(&mut table, Op::EditService(service(WEB, "bogus"))),
            errno::ENOENT
        );
        let with_pe = Service {
            pe_name: Some("nope".into()),
            ..service("udp:10.0.0.1:5060", "rr")
        };
        assert_eq!(errno_of(&mut table, Op::AddService(with_pe)), errno::ENOENT);
        // An IPv6 service needs a prefix length from 1 to 128.
        let v6 = Service {
            netmask: 0,
            ..service("tcp:[2001:db8::1]:80", "rr")
        };
        assert_eq!(errno_of(&mut table, Op::AddService(v6)), errno::EINVAL);
    }

    #[test]
    fn scheduler_set_is_configurable() {
        let mut table = MemoryTable::new().with_schedulers(["twos"]);
        table
            .execute(&Op::AddService(service(WEB, "twos")))
            .unwrap();
        assert_eq!(
            errno_of(&mut table, Op::EditService(service(WEB, "wrr"))),
            errno::ENOENT
        );
        assert_eq!(linux_6_1_schedulers().count(), 13);
    }

    #[test]
    fn persistence_engine_changes_in_place() {
        let mut table = MemoryTable::new();
        let plain = service("udp:10.0.0.1:5060", "rr");
        let sip = Service {
            flags: svc_flags::PERSISTENT,
            timeout: 60,
            pe_name: Some("sip".into()),
            ..plain.clone()
        };
        table
            .apply(&[Op::AddService(plain.clone()), Op::EditService(sip.clone())])
            .unwrap();
        assert_eq!(table.snapshot_now().services[0].service, sip);
        table
            .execute(&Op::EditService(Service {
                pe_name: Some(String::new()),
                ..plain.clone()
            }))
            .unwrap();
        assert_eq!(table.snapshot_now().services[0].service, plain);
    }

    #[test]
    fn dest_errors() {
        let mut table = web_table();
        let web = svc_key(WEB);
        let missing = svc_key("tcp:10.9.9.9:80");
        assert_eq!(
            errno_of(&mut table, Op::AddDest(missing, dest("172.25.0.40:80", 1))),
            errno::ESRCH
        );
        assert_eq!(
            errno_of(&mut table, Op::EditDest(missing, dest("172.25.0.31:80", 1))),
            errno::ESRCH
        );
        assert_eq!(
            errno_of(
                &mut table,
                Op::DelDest(missing, dest("172.25.0.31:80", 1).key)
            ),
            errno::ESRCH
        );
        assert_eq!(
            errno_of(&mut table, Op::AddDest(web, dest("172.25.0.31:80", 3))),
            errno::EEXIST
        );
        assert_eq!(
            errno_of(&mut table, Op::EditDest(web, dest("172.25.0.40:80", 1))),
            errno::ENOENT
        );
        assert_eq!(
            errno_of(&mut table, Op::DelDest(web, dest("172.25.0.40:80", 1).key)),
            errno::ENOENT
        );
        // Weight is a signed int in the kernel: above i32::MAX it is negative.
        assert_eq!(
            errno_of(
                &mut table,
                Op::AddDest(web, dest("172.25.0.40:80", 1 << 31))
            ),
            errno::ERANGE
        );
        table
            .execute(&Op::EditDest(web, dest("172.25.0.31:80", 70_000)))
            .unwrap();
        let inverted = Dest {
            u_threshold: 10,
            l_threshold: 11,
            ..dest("172.25.0.40:80", 1)
        };
        assert_eq!(
            errno_of(&mut table, Op::AddDest(web, inverted)),
            errno::ERANGE
        );
        let inverted = Dest {
            u_threshold: 0,
            l_threshold: 1,
            ..dest("172.25.0.31:80", 1)
        };
        assert_eq!(
            errno_of(&mut table, Op::EditDest(web, inverted)),
            errno::ERANGE
        );
        let gue = Dest {
            fwd_method: fwd::TUNNEL,
            tun_type: tun::GUE,
            tun_port: 0,
            ..dest("172.25.0.40:80", 1)
        };
        assert_eq!(errno_of(&mut table, Op::AddDest(web, gue)), errno::EINVAL);
        for unusable in ["0.0.0.0:80", "224.0.0.1:80", "255.255.255.255:80"] {
            assert_eq!(
                errno_of(&mut table, Op::AddDest(web, dest(unusable, 1))),
                errno::EINVAL,
                "{unusable}"
            );
        }
    }

    #[test]
    fn mixed_families_need_a_tunnel_and_no_sync_daemon() {
        let mut table = web_table();
        let web = svc_key(WEB);
        let v6 = dest("[2001:db8::7]:80", 1);
        assert_eq!(errno_of(&mut table, Op::AddDest(web, v6)), errno::EINVAL);
        let v6_tun = Dest {
            fwd_method: fwd::TUNNEL,
            ..v6
        };
        let daemon = Daemon {
            role: DaemonRole::Master,
            mcast_ifn: "eth0".into(),
            syncid: 1,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        };
        table.execute(&Op::StartDaemon(daemon.clone())).unwrap();
        assert_eq!(
            errno_of(&mut table, Op::AddDest(web, v6_tun)),
            errno::EINVAL
        );
        table.execute(&Op::StopDaemon(DaemonRole::Master)).unwrap();
        table.execute(&Op::AddDest(web, v6_tun)).unwrap();
        assert_eq!(errno_of(&mut table, Op::StartDaemon(daemon)), errno::EINVAL);
    }

    #[test]
    fn deleted_servers_come_back_from_the_trash_with_their_connections() {
        let mut table = web_table();
        let (web, rs) = (svc_key(WEB), dest("172.25.0.31:80", 1).key);
        table.set_conns(
            &web,
            &rs,
            Conns {
                active: 7,
                inactive: 2,
                persistent: 0,
            },
        );
        table.execute(&Op::DelDest(web, rs)).unwrap();
        assert_eq!(table.trash().collect::<Vec<_>>(), [&(web, rs)]);
        table
            .execute(&Op::AddDest(web, dest("172.25.0.31:80", 4)))
            .unwrap();
        let entry = &table.snapshot_now().services[0].dests[0];
        assert_eq!(
            (entry.active_conns, entry.inact_conns, entry.dest.weight),
            (7, 2, 4)
        );
        assert_eq!(table.trash().count(), 0);
        // Deleting the service sends its servers to the trash too.
        table.execute(&Op::DelService(web)).unwrap();
        assert_eq!(table.trash().count(), 1);
        table.empty_trash();
        assert_eq!(table.trash().count(), 0);
    }

    #[test]
    fn timeouts_zero_means_unchanged_and_range_is_checked() {
        let mut table = MemoryTable::new();
        assert_eq!(table.snapshot_now().timeouts, KERNEL_DEFAULT_TIMEOUTS);
        table
            .execute(&Op::SetTimeouts(Timeouts {
                tcp: 0,
                tcp_fin: 60,
                udp: 0,
            }))
            .unwrap();
        assert_eq!(
            table.snapshot_now().timeouts,
            Timeouts {
                tcp: 900,
                tcp_fin: 60,
                udp: 300
            }
        );
        let too_long = Timeouts {
            tcp: 1,
            tcp_fin: 0,
            udp: i32::MAX as u32 / HZ + 1,
        };
        assert_eq!(
            errno_of(&mut table, Op::SetTimeouts(too_long)),
            errno::EINVAL
        );
    }

    #[test]
    fn daemons_start_once_and_report_kernel_defaults() {
        let mut table = MemoryTable::new().with_interfaces(["eth0"]);
        let backup = Daemon {
            role: DaemonRole::Backup,
            mcast_ifn: "eth0".into(),
            syncid: 3,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: Some(9000),
            mcast_ttl: None,
        };
        table.execute(&Op::StartDaemon(backup.clone())).unwrap();
        let running = &table.snapshot_now().daemons[0];
        assert_eq!(running.mcast_port, Some(9000));
        assert_eq!(running.mcast_group, Some(IpAddr::from([224, 0, 0, 81])));
        assert_eq!(
            (running.mcast_ttl, running.sync_maxlen),
            (Some(1), Some(1472))
        );
        assert_eq!(
            errno_of(&mut table, Op::StartDaemon(backup.clone())),
            errno::EEXIST
        );
        let elsewhere = Daemon {
            role: DaemonRole::Master,
            mcast_ifn: "eth9".into(),
            ..backup
        };
        assert_eq!(
            errno_of(&mut table, Op::StartDaemon(elsewhere)),
            errno::ENODEV
        );
        assert_eq!(
            errno_of(&mut table, Op::StopDaemon(DaemonRole::Master)),
            errno::ESRCH
        );
        table.execute(&Op::StopDaemon(DaemonRole::Backup)).unwrap();
        assert!(table.snapshot_now().daemons.is_empty());
    }

    #[test]
    fn flush_clears_services_only_and_zero_clears_counters() {
        let mut table = web_table();
        let (web, rs) = (svc_key(WEB), dest("172.25.0.31:80", 1).key);
        let busy = Stats {
            conns: 10,
            inpkts: 100,
            ..Stats::default()
        };
        table.set_service_stats(&web, busy);
        table.set_dest_stats(&web, &rs, busy);
        table.set_conns(
            &web,
            &rs,
            Conns {
                active: 3,
                ..Conns::default()
            },
        );
        table.execute(&Op::Zero(Some(web))).unwrap();
        let entry = &table.snapshot_now().services[0];
        assert_eq!(
            (entry.stats, entry.dests[0].stats),
            (Stats::default(), Stats::default())
        );
        assert_eq!(
            entry.dests[0].active_conns, 3,
            "zeroing leaves live connections"
        );

        table.set_service_stats(&web, busy);
        table.execute(&Op::Zero(None)).unwrap();
        assert_eq!(table.snapshot_now().services[0].stats, Stats::default());

        table
            .execute(&Op::SetTimeouts(Timeouts {
                tcp: 60,
                ..Timeouts::default()
            }))
            .unwrap();
        table.execute(&Op::Flush).unwrap();
        let snap = table.snapshot_now();
        assert!(snap.services.is_empty());
        assert_eq!(snap.timeouts.tcp, 60);
    }

    #[test]
    fn apply_stops_at_the_first_failure() {
        let mut table = MemoryTable::new();
        let fw = ServiceKey::Fwmark {
            mark: 1,
            family: AddressFamily::Ipv4,
        };
        let ops = [
            Op::AddService(service(WEB, "wrr")),
            Op::AddService(service(WEB, "wrr")),
            Op::AddService(Service {
                key: fw,
                ..service(WEB, "rr")
            }),
        ];
        let err = table.apply(&ops).unwrap_err();
        assert!(matches!(
            err.outcomes[..],
            [Outcome::Applied, Outcome::Failed(_), Outcome::NotSent]
        ));
        let (index, first) = err.first_failure().unwrap();
        assert_eq!((index, first.errno()), (1, Some(errno::EEXIST)));
        assert_eq!(
            first.to_string(),
            "adding service tcp 192.168.31.100:80: the service already exists"
        );
        assert_eq!(table.snapshot_now().services.len(), 1);
    }

    #[test]
    fn injected_failures() {
        let mut table = web_table();
        table.fail_once(|op| matches!(op, Op::AddDest(..)), errno::ENOMEM);
        let add = Op::AddDest(svc_key(WEB), dest("172.25.0.32:80", 1));
        assert_eq!(errno_of(&mut table, add.clone()), errno::ENOMEM);
        table.execute(&add).unwrap();

        table.fail_on(|op| matches!(op, Op::DelService(_)), errno::EPERM);
        for _ in 0..2 {
            assert_eq!(
                errno_of(&mut table, Op::DelService(svc_key(WEB))),
                errno::EPERM
            );
        }
        table.clear_failures();
        table.execute(&Op::DelService(svc_key(WEB))).unwrap();

        table.set_unavailable(Some("no IPVS family"));
        assert!(matches!(table.snapshot(), Err(Error::Unavailable(_))));
        let err = table.apply(&[Op::Flush]).unwrap_err();
        assert!(matches!(
            err.outcomes[..],
            [Outcome::Failed(Error::Unavailable(_))]
        ));
    }

    #[test]
    fn snapshots_are_sorted_and_load_back() {
        let mut table = MemoryTable::new();
        let keys = [
            "udp:10.0.0.2:53",
            "fwmark:5",
            "tcp:10.0.0.1:443",
            "tcp:10.0.0.1:80",
        ];
        for key in keys {
            table.execute(&Op::AddService(service(key, "rr"))).unwrap();
        }
        for rs in ["10.1.0.3:0", "10.1.0.1:0", "10.1.0.2:0"] {
            table
                .execute(&Op::AddDest(svc_key("fwmark:5"), dest(rs, 1)))
                .unwrap();
        }
        let snap = table.snapshot_now();
        let order: Vec<_> = snap.services.iter().map(|s| s.service.key).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        let fw = snap
            .services
            .iter()
            .find(|s| s.service.key.is_fwmark())
            .unwrap();
        assert!(fw.dests.windows(2).all(|w| w[0].dest.key < w[1].dest.key));
        assert!(matches!(
            order[0],
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                ..
            }
        ));
        assert_eq!(MemoryTable::from_snapshot(&snap).snapshot_now(), snap);
    }
}
