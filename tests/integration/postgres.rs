//! A real, throwaway PostgreSQL for the upstream tests: one cluster per test binary, started
//! at the first test that asks (`initdb` + `pg_ctl start` on a free loopback port in a
//! temporary directory, about half a second), one database per test (`CREATE DATABASE`).
//!
//! `initdb` refuses to run as root, so as root the cluster runs as the `postgres` user of
//! Debian's `postgresql` package (`runuser -u postgres --`), which owns its directory. A
//! watchdog process stops the cluster and removes the directory when the test binary ends,
//! whichever way it ends. A second cluster, started only by the tests that ask for it,
//! speaks TLS only ([`TlsCluster`], its certificates made with the `openssl` CLI). Missing binaries fail the test with what to install: nothing is
//! skipped.
//!
//! A test that restarts its server takes a [`Cluster::private`] one (a restart of the shared
//! one would cut every test running beside it). [`FaultyLink`] is the loopback proxy of the
//! fault tests: it cuts or stalls one connection at a chosen point of what the client sends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A cluster: the shared one ([`Cluster::get`]) or a test's own ([`Cluster::private`],
/// stopped and removed when dropped).
pub struct Cluster {
    pub port: u16,
    /// Its data directory (for `pg_ctl`).
    data: PathBuf,
    /// The directory holding `data`, the socket and the server's log.
    dir: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The directory of `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "the upstream tests need a real PostgreSQL: no /usr/lib/postgresql/*/bin/initdb; \
             install Debian's `postgresql` package (tests/run.sh does)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program args` as the cluster's user: `postgres` when we are root, else ourselves.
fn as_cluster_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a cluster in a new temporary directory (`prefix`), its watchdog too: `configure`
/// is given the directory and the data dir after `initdb` and returns more server options.
/// The port and the directory.
fn launch(prefix: &str, configure: impl Fn(&Path, &Path) -> String) -> (u16, PathBuf) {
    let bin = bin_dir();
    let started = std::time::Instant::now();
    // Kept (not removed on drop): the watchdog removes it after the cluster stopped.
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap().keep();
    let data = dir.join("data");
    if is_root() {
        chown_to_cluster_user(&dir);
    }
    let mut initdb = as_cluster_user(&bin.join("initdb"));
    initdb.arg("-D").arg(&data).args(["--auth=trust", "-U", "postgres", "--no-sync"]);
    run(initdb, "initdb");
    let options = configure(&dir, &data);
    if is_root() {
        chown_to_cluster_user(&dir);
    }
    // A free port can be taken by another test between its probe and the server's
    // bind: a start that fails is tried again on a new port.
    let start_on = |port: u16| {
        let mut start = as_cluster_user(&bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {options}",
                dir.display()
            ))
            .args(["-w", "start"]);
        start.output().is_ok_and(|output| output.status.success())
    };
    let port = (0..5).map(|_| free_port()).find(|&port| start_on(port)).unwrap_or_else(|| {
        panic!("pg_ctl start failed 5 times; see {}", dir.join("server.log").display())
    });
    eprintln!(
        "PostgreSQL for the upstream tests ({prefix}): port {port}, started in {:?}",
        started.elapsed()
    );
    // The watchdog: when this test process is gone, stop the cluster and remove it.
    let stop = format!(
        "{} {}/pg_ctl -D {} -m immediate -w stop",
        if is_root() { "runuser -u postgres --" } else { "" },
        bin.display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    // It outlives this process by design (it waits for its end), so it is never waited for.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cannot start the cluster's watchdog");
    (port, dir)
}

/// `chown -R postgres:postgres dir`.
fn chown_to_cluster_user(dir: &Path) {
    let mut chown = Command::new("chown");
    chown.arg("-R").arg("postgres:postgres").arg(dir);
    run(chown, "chown of the cluster directory");
}

impl Cluster {
    /// The cluster, started once per test binary.
    pub fn get() -> &'static Cluster {
        CLUSTER.get_or_init(Self::start)
    }

    /// A cluster of this test's own, for a test that restarts it; stopped and removed when
    /// dropped (and by its watchdog if the test process dies first).
    pub fn private() -> Cluster {
        Self::start()
    }

    /// `pg_ctl restart -m fast`: the server ends every connection (as a central server
    /// restarted for maintenance does) and comes back on the same port with the same data.
    pub fn restart(&self) {
        let mut restart = as_cluster_user(&bin_dir().join("pg_ctl"));
        // `-l` as at the start: without it the server would write to our pipe, and keep it
        // open, so the call would never end.
        restart.arg("-D").arg(&self.data).arg("-l").arg(self.dir.join("server.log"));
        restart.args(["-m", "fast", "-w", "restart"]);
        run(restart, "pg_ctl restart");
    }

    fn start() -> Cluster {
        let (port, dir) = launch("plantsync-pg-", |_, _| String::new());
        Cluster { port, data: dir.join("data"), dir }
    }

    /// A fresh, empty database of its own for one test; returns its URL.
    pub async fn database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::SeqCst));
        let admin = connect(&self.url("postgres")).await;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        self.url(&name)
    }

    /// The URL of database `name`, with a password (the cluster trusts loopback, so any
    /// password works: the tests check that it never shows).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}", self.port)
    }
}

/// A second cluster that speaks TLS and refuses anything else over TCP (`hostssl` only in
/// `pg_hba.conf`, `hostnossl ... reject`), with a password login (SCRAM), so a test that
/// logs in over TCP proves its bytes went over TLS. Its certificate is signed by a private
/// CA made for it ([`TlsCluster::ca`]) and names `localhost` only (not `127.0.0.1`), so a
/// test can connect by a name the certificate lacks. The certificate is signed with
/// SHA-384, so the channel binding's hash choice is exercised too. Local (Unix socket)
/// logins are trusted: the tests' own checks connect that way.
pub struct TlsCluster {
    pub port: u16,
    dir: PathBuf,
}

static TLS_CLUSTER: OnceLock<TlsCluster> = OnceLock::new();

/// `openssl args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(args);
    run(cmd, &format!("openssl {}", args.join(" ")));
}

impl TlsCluster {
    /// The cluster, started once per test binary.
    pub fn get() -> &'static TlsCluster {
        TLS_CLUSTER.get_or_init(Self::start)
    }

    fn start() -> TlsCluster {
        let (port, dir) = launch("plantsync-pg-tls-", |dir, data| {
            std::fs::write(
                dir.join("ca.cnf"),
                "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n\
                 [dn]\nCN = plantsync test CA\n\
                 [v3_ca]\nbasicConstraints = critical,CA:TRUE\n\
                 keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
            )
            .unwrap();
            std::fs::write(
                dir.join("server.ext"),
                "subjectAltName = DNS:localhost\nbasicConstraints = critical,CA:FALSE\n\
                 keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n",
            )
            .unwrap();
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
            openssl(
                dir,
                &[
                    &["req", "-x509", "-config", "ca.cnf"],
                    &ec[..],
                    &["-keyout", "ca.key", "-out", "ca.crt", "-days", "3"],
                ]
                .concat(),
            );
            openssl(
                dir,
                &[
                    &["req", "-new"],
                    &ec[..],
                    &["-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"],
                ]
                .concat(),
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "server.csr",
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    "2",
                    "-sha384",
                    "-days",
                    "3",
                    "-extfile",
                    "server.ext",
                    "-out",
                    "server.crt",
                ],
            );
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 hostnossl all all 127.0.0.1/32 reject\n\
                 hostssl all all ::1/128 scram-sha-256\n\
                 hostnossl all all ::1/128 reject\n",
            )
            .unwrap();
            format!(
                "-c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                dir.display()
            )
        });
        let mut psql = as_cluster_user(&bin_dir().join("psql"));
        psql.arg("-h").arg(&dir).args(["-p", &port.to_string(), "-U", "postgres", "-d"]).args([
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("ALTER ROLE postgres PASSWORD '{PASSWORD}'"),
        ]);
        run(psql, "psql setting the password");
        TlsCluster { port, dir }
    }

    /// The private CA's certificate (PEM), the one to name as `sslrootcert`.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A client of database `name` over the Unix socket (no TLS there), for the checks.
    pub async fn local(&self, name: &str) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config.host_path(&self.dir).port(self.port).user("postgres").dbname(name);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    /// A fresh, empty database of its own for one test; returns its name.
    pub async fn database(&self) -> String {
        let name =
            format!("tls{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::SeqCst));
        let admin = self.local("postgres").await;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        name
    }

    /// The URL of database `name` by the certificate's name, `localhost` (its address
    /// given as `hostaddr`, so the connection goes to the IPv4 socket the server listens on
    /// and the name is only what the certificate is checked against), with the password and
    /// `params`.
    pub fn url_by_name(&self, name: &str, params: &str) -> String {
        let params = if params.is_empty() { String::new() } else { format!("&{params}") };
        format!(
            "postgres://postgres:{PASSWORD}@localhost:{}/{name}?hostaddr=127.0.0.1{params}",
            self.port
        )
    }

    /// The URL of database `name` by address, `127.0.0.1`: a name the certificate lacks.
    pub fn url_by_address(&self, name: &str, params: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}?{params}", self.port)
    }
}

/// Only a private cluster is ever dropped (the shared one lives in a static).
impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = as_cluster_user(&bin_dir().join("pg_ctl"));
        stop.arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The password in every test URL.
pub const PASSWORD: &str = "central-pw-4711";

/// A client of `url`, its connection driven by a task.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// One `count(*)`-like number from the central database.
pub async fn number(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// A loopback port in front of the cluster that counts every connection made to it: while
/// up it forwards the connection, while down it closes it at once (the client's connection
/// ends before the server's first byte, as a central server that is away would refuse it).
/// The counts are what the tests check a retry schedule by: attempts, never time.
pub struct Forwarder {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    counts: std::sync::Arc<[AtomicU32; 2]>,
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    /// Starts one in front of `target`, down.
    pub async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let counts = std::sync::Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
        let (state, counted) = (up.clone(), counts.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let up = state.load(Ordering::SeqCst);
                counted[usize::from(up)].fetch_add(1, Ordering::SeqCst);
                if !up {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(async move {
                    let mut outbound =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await?;
                    tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await?;
                    Ok::<_, std::io::Error>(())
                });
            }
        });
        Self { port, up, counts, task }
    }

    /// Forwards from now on (`true`) or closes every new connection (`false`).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Connections made while it was down.
    pub fn attempts_while_down(&self) -> u32 {
        self.counts[0].load(Ordering::SeqCst)
    }

    /// Connections made while it was up.
    pub fn attempts_while_up(&self) -> u32 {
        self.counts[1].load(Ordering::SeqCst)
    }

    /// `url` (of the cluster) through this forwarder.
    pub fn url(&self, url: &str) -> String {
        let name = url.rsplit('/').next().unwrap();
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a [`FaultyLink`] does to the connection whose client→server bytes reach its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Resets both directions at once (zero linger, then close: a TCP RST to either side),
    /// as a link that drops does: the server gets part of a message and never its end, the
    /// client gets no answer.
    Cut,
    /// Forwards nothing more from the client until [`FaultyLink::release`] (what the server
    /// sends still reaches the client): a push held mid-message, for as long as the test
    /// needs to restart the server or kill the agent, with no timer deciding anything.
    Stall,
}

/// A loopback proxy in front of the cluster that cuts or stalls the first connection whose
/// client→server stream reaches `marker`, right after the marker's last byte; every other
/// connection, and that one after a release, passes untouched.
///
/// Why a marker and not a byte count: the count of bytes before a given batch depends on the
/// database's name (in the startup message), the agent id, the data and the driver's
/// message layout, so a fixed count would land elsewhere with every change of those; the
/// text of a value the test chose (a plant's name, sent in its batch only) puts the fault
/// inside that batch's message, whatever comes before it. The bytes before the marker are
/// forwarded, the rest of the message is not: the server never executes that batch.
pub struct FaultyLink {
    pub port: u16,
    fired: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    released: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyLink {
    /// Starts one in front of `target` (a loopback port) that does `fault` at `marker`.
    pub async fn start(target: u16, fault: Fault, marker: &str) -> Self {
        assert!(!marker.is_empty());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fired = std::sync::Arc::new(tokio::sync::watch::Sender::new(false));
        let released = std::sync::Arc::new(tokio::sync::watch::Sender::new(false));
        let marker = std::sync::Arc::new(marker.as_bytes().to_vec());
        let (on_fire, on_release) = (fired.clone(), released.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let (fired, released, marker) =
                    (on_fire.clone(), on_release.subscribe(), marker.clone());
                connections.spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    let _ = relay(inbound, outbound, fault, &marker, &fired, released).await;
                });
            }
        });
        Self { port, fired, released, task }
    }

    /// Waits until the fault happened (the marker passed; for a stall, the connection is
    /// held from then on). Bounded only so a broken build cannot hang the suite.
    pub async fn fired(&self) {
        let mut fired = self.fired.subscribe();
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            fired.wait_for(|fired| *fired),
        );
        assert!(waited.await.is_ok(), "the link's marker never passed");
    }

    /// Whether the fault happened.
    pub fn has_fired(&self) -> bool {
        *self.fired.borrow()
    }

    /// Lets a stalled connection go on (what it held is forwarded; a connection whose
    /// client or server is gone meanwhile ends).
    pub fn release(&self) {
        self.released.send_replace(true);
    }

    /// `url` (of a cluster) through this link.
    pub fn url(&self, url: &str) -> String {
        let name = url.rsplit('/').next().unwrap();
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for FaultyLink {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

/// Forwards both directions of one connection until either side closes, doing `fault` once
/// (across all connections of the link: `fired`) right after `marker` in the client's bytes.
async fn relay(
    mut inbound: tokio::net::TcpStream,
    mut outbound: tokio::net::TcpStream,
    fault: Fault,
    marker: &[u8],
    fired: &tokio::sync::watch::Sender<bool>,
    mut released: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut from_client, mut from_server) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    // The client's last bytes, for a marker split across two reads.
    let mut tail: Vec<u8> = Vec::new();
    // What a stall holds back (the bytes after the marker).
    let mut held: Option<Vec<u8>> = None;
    loop {
        tokio::select! {
            read = inbound.read(&mut from_client), if held.is_none() => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                let chunk = &from_client[..n];
                let at = (!*fired.borrow()).then(|| marker_end(&tail, chunk, marker)).flatten();
                let Some(end) = at else {
                    outbound.write_all(chunk).await?;
                    tail.extend_from_slice(chunk);
                    let keep = tail.len().saturating_sub(marker.len());
                    tail.drain(..keep);
                    continue;
                };
                // One fault per link: the first connection to get here does it.
                if fired.send_replace(true) {
                    outbound.write_all(chunk).await?;
                    continue;
                }
                outbound.write_all(&chunk[..end]).await?;
                outbound.flush().await?;
                match fault {
                    Fault::Cut => {
                        inbound.set_zero_linger()?;
                        outbound.set_zero_linger()?;
                        return Ok(());
                    }
                    Fault::Stall => held = Some(chunk[end..].to_vec()),
                }
            }
            () = async { drop(released.wait_for(|released| *released).await) }, if held.is_some() => {
                if let Some(rest) = held.take() {
                    outbound.write_all(&rest).await?;
                }
            }
            read = outbound.read(&mut from_server) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                inbound.write_all(&from_server[..n]).await?;
            }
        }
    }
}

/// Where `marker` ends in `chunk` (an index into it) when it occurs in `tail` + `chunk` and
/// ends inside `chunk`.
fn marker_end(tail: &[u8], chunk: &[u8], marker: &[u8]) -> Option<usize> {
    let joined = [tail, chunk].concat();
    let start = joined.windows(marker.len()).position(|w| w == marker)?;
    let end = start + marker.len();
    (end > tail.len()).then(|| end - tail.len())
}
