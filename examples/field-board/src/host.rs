//! The field on the host (feature `host`): the board's code run on Linux against what a
//! hosted collector puts in front of it, all inside a network namespace of the caller's
//! (the test kit's [`netns`]).
//!
//! - The board ([`TapBoard`]): smoltcp on the namespace's TAP device at [`BOARD_ADDR`],
//!   one TCP and one UDP socket, the machine's monotonic clock, an idle hook that sleeps
//!   until a frame arrives; its [`DeviceSeed`] from its MAC address and this process's id
//!   (standing in for a boot counter).
//! - The field ([`Field`]), on the kernel side of the TAP device ([`netns::KERNEL_ADDR`]):
//!   `dnsmasq` answering [`COLLECTOR_HOST`] with that address (TTL 60 s, every other
//!   `.test` name NXDOMAIN); `nginx` on port 443 terminating TLS for that name with one
//!   of two public-CA-shaped chains ([`Chain`]), in front of the test kit's sink on
//!   127.0.0.1, which decodes every request.
//!
//! [`run`] boots the board and exports once per entry of a schedule, the collector
//! serving one chain or the other or being down, and returns what happened next to what
//! was recorded. Needs root, `/dev/net/tun`, `ip`, `dnsmasq`, `nginx` and `openssl`
//! ([`prerequisites`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otlp_embedded::export::ExportReport;
use otlp_embedded::proto::{RequestHeader, Resource, Scope};
use otlp_embedded::time::{Clock, Instant, Wait};
use otlp_embedded_smoltcp::dns::DnsError;
use otlp_embedded_smoltcp::{smol_instant, DeviceSeed};
use otlp_embedded_std::StdClock;
use otlp_embedded_test_kit::dnsmasq::Dnsmasq;
use otlp_embedded_test_kit::netns;
use otlp_embedded_test_kit::nginx::{Nginx, Serve};
use otlp_embedded_test_kit::openssl_pki::{OpensslPki, PublicChains};
use otlp_embedded_test_kit::process::require_programs;
use otlp_embedded_test_kit::sink::{Sink, SinkOptions};
use otlp_embedded_test_kit::tls_clock::WallClock;
use otlp_embedded_tls::READ_BUFFER_LEN;
use rand_core::OsRng;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Medium, TunTapInterface};
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use crate::{
    exporter_config, resource_attributes, Hardware, Instruments, Metrics, MetricsSnapshot,
    TlsBuffers, Uplink, COLLECTOR_HOST, LOOP_BOUNDS_MS, SENSORS,
};

/// The board's address on the TAP link (the kernel side is [`netns::KERNEL_IP`]/24).
pub const BOARD_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 1);
/// The board's MAC address, which its device seed is made from.
pub const BOARD_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x42, 0x01];
/// The board's `device.id`.
pub const DEVICE_ID: &str = "board-0042";
/// Each export's deadline here (the board's own is 10 s): a round with the collector down
/// ends after this long.
pub const EXPORT_TIMEOUT_MS: u32 = 3_000;

/// What is missing to run the field, and which `OTLP_REQUIRE_*` variable makes that a
/// failure instead of a SKIP in CI: the namespace's needs and dnsmasq under
/// `OTLP_REQUIRE_TAP`, nginx and openssl under `OTLP_REQUIRE_NGINX`.
pub fn prerequisites() -> Vec<(String, &'static str)> {
    let checks = [
        (netns::prerequisites(), "OTLP_REQUIRE_TAP"),
        (
            require_programs(&[("dnsmasq", "dnsmasq-base")]),
            "OTLP_REQUIRE_TAP",
        ),
        (
            require_programs(&[("nginx", "nginx-light"), ("openssl", "openssl")]),
            "OTLP_REQUIRE_NGINX",
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(result, var)| result.err().map(|why| (why, var)))
        .collect()
}

/// Unix time in nanoseconds, for the points' timestamps.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The board's network hardware on the host: smoltcp over the namespace's TAP device.
pub struct TapBoard {
    device: TunTapInterface,
    iface: Interface,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
    udp: SocketHandle,
    clock: StdClock,
    seed: DeviceSeed,
}

impl TapBoard {
    /// Open [`netns::TAP`] (this process must be in the namespace), at [`BOARD_ADDR`]/24.
    pub fn new() -> std::io::Result<TapBoard> {
        let mut device = TunTapInterface::new(netns::TAP, Medium::Ethernet)?;
        let clock = StdClock::new();
        // A board's unique id (here its MAC) hashed with something that changes at every
        // boot (here the process id).
        let seed = DeviceSeed::from_unique_id(&BOARD_MAC).mix(u64::from(std::process::id()));
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(BOARD_MAC)));
        config.random_seed = seed.value();
        let mut iface = Interface::new(config, &mut device, smol_instant(clock.now()));
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(BOARD_ADDR), 24));
        });
        let mut sockets = SocketSet::new(Vec::new());
        let tcp = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; 4096]),
            tcp::SocketBuffer::new(vec![0u8; 4096]),
        ));
        // Room for one classic 512-byte DNS datagram each way, and a spare (a resend may
        // queue behind a datagram that waits for ARP).
        let udp = sockets.add(udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 2], vec![0u8; 1024]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 2], vec![0u8; 1024]),
        ));
        Ok(TapBoard {
            device,
            iface,
            sockets,
            tcp,
            udp,
            clock,
            seed,
        })
    }

    /// The TCP socket's handle.
    pub fn tcp(&self) -> SocketHandle {
        self.tcp
    }

    /// The UDP socket's handle.
    pub fn udp(&self) -> SocketHandle {
        self.udp
    }

    /// This board's seed.
    pub fn seed(&self) -> DeviceSeed {
        self.seed
    }

    /// The clock its deadlines are measured on.
    pub fn clock(&self) -> &StdClock {
        &self.clock
    }

    /// The hardware, lent for one export; idling sleeps until a frame arrives or 50 ms.
    pub fn hardware(&mut self) -> Hardware<'_, 'static, TunTapInterface, StdClock, impl Wait> {
        let fd = self.device.as_raw_fd();
        Hardware {
            iface: &mut self.iface,
            device: &mut self.device,
            sockets: &mut self.sockets,
            clock: &self.clock,
            idle: move |now: Instant, wake_by: Instant| {
                let ms = now.millis_until(wake_by).min(50);
                let _ = smoltcp::phy::wait(fd, Some(smoltcp::time::Duration::from_millis(ms)));
            },
        }
    }

    /// Keep the stack polled for `ms` as a superloop would between exports; the TCP
    /// socket's state after.
    pub fn settle(&mut self, ms: u64) -> tcp::State {
        let until = self.clock.now().add_millis(ms);
        while self.clock.now() < until {
            let now = self.clock.now();
            self.iface
                .poll(smol_instant(now), &mut self.device, &mut self.sockets);
            let wait = now.millis_until(until).min(50);
            let _ = smoltcp::phy::wait(
                self.device.as_raw_fd(),
                Some(smoltcp::time::Duration::from_millis(wait)),
            );
        }
        self.sockets.get::<tcp::Socket>(self.tcp).state()
    }
}

/// Which public-CA-shaped chain nginx serves for [`COLLECTOR_HOST`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chain {
    /// RSA-4096 root -> RSA-2048 intermediate -> P-256 leaf.
    Rsa,
    /// P-384 root -> P-384 intermediate -> P-256 leaf (ISRG Root X2 -> E-series shape).
    P384,
}

/// The collector's side of the link: dnsmasq, nginx (when up) and the sink.
pub struct Field {
    sink: Sink,
    dnsmasq: Dnsmasq,
    nginx: Option<(Chain, Nginx)>,
    /// Requests each chain's nginx passed on before it was stopped.
    passed: BTreeMap<Chain, usize>,
}

impl Field {
    /// Start the sink on 127.0.0.1 and dnsmasq on the kernel side; nginx waits for
    /// [`Field::serve`].
    pub fn start() -> std::io::Result<Field> {
        let sink = Sink::start_with(SinkOptions {
            idle_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_secs(10),
            max_connections: 4,
            ..SinkOptions::default()
        })?;
        let kernel = netns::KERNEL_IP;
        let dnsmasq = Dnsmasq::start(
            kernel.into(),
            &[
                format!("--address=/{COLLECTOR_HOST}/{kernel}"),
                // Every other name under .test does not exist (NXDOMAIN).
                "--local=/test/".into(),
                // Answers from configuration carry a TTL of 0 unless told otherwise.
                "--local-ttl=60".into(),
            ],
        );
        Ok(Field {
            sink,
            dnsmasq,
            nginx: None,
            passed: BTreeMap::new(),
        })
    }

    /// Have nginx serve `chain` from `chains` on port 443 (started again if it served
    /// the other one), or stop it (`None`: the collector is down, connections refused).
    pub fn serve(&mut self, chains: &PublicChains, chain: Option<Chain>) {
        if self.nginx.as_ref().map(|(c, _)| *c) == chain {
            return;
        }
        if let Some((old, nginx)) = self.nginx.take() {
            *self.passed.entry(old).or_default() += nginx.access_log().len();
        }
        let Some(chain) = chain else { return };
        let (leaf, intermediate) = match chain {
            Chain::Rsa => (&chains.rsa_chain_leaf, &chains.rsa_intermediate),
            Chain::P384 => (&chains.ec_chain_leaf, &chains.ec_intermediate),
        };
        let listen = SocketAddr::new(IpAddr::V4(netns::KERNEL_IP), 443);
        let nginx = Nginx::start(
            &Serve::tls13(leaf, &[intermediate]),
            listen,
            self.sink.addr(),
        );
        self.nginx = Some((chain, nginx));
    }

    /// Requests nginx passed on to the sink while serving `chain`.
    pub fn passed(&self, chain: Chain) -> usize {
        let running = match &self.nginx {
            Some((c, nginx)) if *c == chain => nginx.access_log().len(),
            _ => 0,
        };
        self.passed.get(&chain).copied().unwrap_or(0) + running
    }

    /// The sink behind nginx.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// The DNS server.
    pub fn dnsmasq(&self) -> &Dnsmasq {
        &self.dnsmasq
    }
}

/// What the board recorded, in the sink's terms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    /// `board.readings` by sensor.
    pub readings: BTreeMap<&'static str, u64>,
    /// `board.loop.duration`: count, sum and bucket counts.
    pub loop_count: u64,
    /// Sum of the loop durations.
    pub loop_sum: f64,
    /// Bucket counts by [`LOOP_BOUNDS_MS`].
    pub loop_buckets: [u64; 4],
}

impl Recorded {
    /// Record round `round`'s sensor readings and loop passes into `metrics`, and here.
    fn round(&mut self, instruments: &Instruments, metrics: &mut Metrics, round: u64) {
        for (i, sensor) in SENSORS.iter().enumerate() {
            let count = 3 + round * (i as u64 + 1);
            if instruments.reading_taken(metrics, sensor, count).is_ok() {
                *self.readings.entry(sensor).or_default() += count;
            }
        }
        for ms in [
            (round * 7 % 25) as f64 + 0.5,
            ((round * 13 + 4) % 30) as f64,
        ] {
            if instruments.loop_took(metrics, ms).is_ok() {
                self.loop_count += 1;
                self.loop_sum += ms;
                self.loop_buckets[LOOP_BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(3)] += 1;
            }
        }
    }
}

/// One export of a [`run`].
#[derive(Clone, Debug)]
pub struct Export {
    /// What the collector did: the chain nginx served, or `None` when it was down.
    pub collector: Option<Chain>,
    /// The export's report.
    pub report: ExportReport,
    /// How long it took.
    pub elapsed: Duration,
    /// The TCP socket's state after the board settled (`Closed` or `TimeWait`).
    pub socket_after: tcp::State,
}

/// What a [`run`] did.
pub struct FieldRun {
    /// The field, still up: its sink, dnsmasq's log, what nginx passed on.
    pub field: Field,
    /// Every export, in order.
    pub exports: Vec<Export>,
    /// Everything the board recorded.
    pub recorded: Recorded,
    /// The DNS resolver's last error (`None` after a successful lookup).
    pub dns_last_error: Option<DnsError>,
}

/// The schedule of the example and the test: two exports to the RSA chain, one while
/// the collector is down, three to the P-384 chain (a collector moving to another CA).
pub const SCHEDULE: [Option<Chain>; 6] = [
    Some(Chain::Rsa),
    Some(Chain::Rsa),
    None,
    Some(Chain::P384),
    Some(Chain::P384),
    Some(Chain::P384),
];

/// Make the chains, start the field, boot the board (trusting both roots) and export once
/// per entry of `schedule`, recording before each; `log` gets a line per step. Must run in
/// the namespace; panics when the field cannot start (this is a test rig).
pub fn run(schedule: &[Option<Chain>], mut log: impl FnMut(String)) -> FieldRun {
    let chains = {
        // The PKI's directory, keys included, is removed as soon as the chains are made.
        let pki = OpensslPki::new(&[COLLECTOR_HOST]);
        PublicChains::issue(&pki)
    };
    let mut field = Field::start().expect("the field: sink and dnsmasq");
    let mut board = TapBoard::new().expect("open the TAP device");
    log(format!(
        "board {DEVICE_ID} at {BOARD_ADDR}, seed {:#018x}; {COLLECTOR_HOST} is {} by dnsmasq",
        board.seed().value(),
        netns::KERNEL_IP
    ));

    let anchors: [&[u8]; 2] = [&chains.rsa_root.cert.der, &chains.ec_root.cert.der];
    // The wall clock, as a board with an RTC or SNTP has it: certificate dates are checked.
    let mut uplink: Uplink<'_, WallClock> = Uplink::new(
        board.tcp(),
        board.udp(),
        board.seed(),
        IpAddress::Ipv4(netns::KERNEL_IP),
        &anchors,
    );
    let mut metrics = Metrics::new(unix_nanos());
    let instruments = Instruments::declare(&mut metrics).expect("declare the instruments");
    let mut snapshot = MetricsSnapshot::new();
    let mut buffer = vec![0u8; 1024];
    let mut read = vec![0u8; READ_BUFFER_LEN];
    let mut write = vec![0u8; 2048];
    let attributes = resource_attributes(DEVICE_ID);
    let header = RequestHeader::new(Resource::new(&attributes), Scope::new("field-board"));
    let mut config = exporter_config(header);
    config.export_timeout_ms = EXPORT_TIMEOUT_MS;
    config.request_timeout_ms = 2_000;

    let mut recorded = Recorded::default();
    let mut exports = Vec::new();
    for (round, collector) in schedule.iter().enumerate() {
        field.serve(&chains, *collector);
        recorded.round(&instruments, &mut metrics, round as u64);
        let started = std::time::Instant::now();
        let report = uplink.export(
            board.hardware(),
            OsRng,
            TlsBuffers {
                read: &mut read,
                write: &mut write,
            },
            &mut metrics,
            &mut snapshot,
            &mut buffer,
            config,
            unix_nanos(),
        );
        let elapsed = started.elapsed();
        let socket_after = board.settle(300);
        log(format!(
            "export {round} ({}): {:?}, {} points sent, {} kept for later, {} retries, {} bytes, {elapsed:.1?}{}",
            match collector {
                Some(Chain::Rsa) => "RSA chain",
                Some(Chain::P384) => "P-384 chain",
                None => "collector down",
            },
            report.outcome,
            report.points_sent,
            report.points_abandoned,
            report.retries,
            report.bytes_sent,
            match (report.first_error, report.last_error) {
                (Some(first), Some(last)) if first != last =>
                    format!(", first error: {first}, last: {last}"),
                (_, Some(last)) => format!(", error: {last}"),
                _ => String::new(),
            },
        ));
        exports.push(Export {
            collector: *collector,
            report,
            elapsed,
            socket_after,
        });
    }
    FieldRun {
        field,
        exports,
        recorded,
        dns_last_error: uplink.dns().last_error(),
    }
}
