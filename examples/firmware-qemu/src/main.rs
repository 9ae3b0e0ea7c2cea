//! Firmware for QEMU's `mps2-an386` (Cortex-M4F): records metrics from the SysTick
//! interrupt and the main loop into one `static` registry, and exports them over smoltcp
//! and the board's LAN9118 Ethernet controller to an OTLP sink on the Linux side of a TAP
//! device. `scripts/qemu-board.sh` builds it, boots it and checks what the sink decoded
//! against what this program says it recorded.
//!
//! - Run: the host's command line says which temporality and how many exports
//!   ([`options`]), so one image serves the delta boot and the cumulative boot.
//! - Network: static IPv4 [`BOARD_IP`]/24 with ARP (no DHCP); the sink is at [`SINK`].
//! - Time: SysTick every millisecond ([`board`]); Unix time from the host at boot.
//! - Seed: from the MAC address and the NIC's free-running counter at boot.
//! - Console: semihosting (QEMU's stderr). Exit status through semihosting: 0 when every
//!   recorded measurement was delivered by the last export.
//! - Stacks: the main loop runs on the process stack (PSP), so the main stack (MSP)
//!   measures the exception handlers alone; both high-water marks are printed.
//!
//! - Export: the **superloop driver**. One `Exporter` (core's `PollHttpClient` beneath)
//!   lives for the whole run; each main-loop iteration polls the interface, starts an
//!   export when one is due, and advances the export under way by one `Exporter::poll`
//!   over a `PollStack` (a view of the smoltcp stack made for that iteration), which
//!   returns at once whatever the network does. The loop's other duties (frame counts,
//!   link log, loop timing) run on every iteration, the SysTick handler records meanwhile,
//!   and the loop sleeps with `wfi` until the next interrupt unless smoltcp has work due.
//!   No call in an iteration waits, so the longest iteration printed at the end is the
//!   loop's worst latency.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
// The program has no `unsafe`: the hardware work (registers, semihosting, stacks) is the
// board support's, in the two modules allowed below. `deny`, not `forbid`: a `forbid` here
// could not be lifted for them, and `cortex_m::singleton!` allows `unsafe_code` inside.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod board;
#[allow(unsafe_code)]
mod lan9118;
mod metrics;
mod options;

use core::cell::Cell;
use core::sync::atomic::Ordering;
use core::task::Poll;

use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::heprintln;
use otlp_embedded::export::{ExportOutcome, ExportRun, Exporter, ExporterConfig, RetryPolicy};
use otlp_embedded::http::{PollHttpClient, ReaderConfig, DEFAULT_HEAD_BUFFER};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_smoltcp::{smol_instant, DeviceSeed, Phase, PollStack, TcpClient};
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::time::Duration as SmolDuration;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use board::{StackMarks, SysTickClock};
use lan9118::{Lan9118, NicStatus, Regs};
use metrics::{LoopSeries, MetricsSnapshot, METRICS};
use options::RunOptions;

/// The board's address on the TAP link.
pub const BOARD_IP: [u8; 4] = [192, 168, 19, 2];
/// The sink, on the Linux side of the TAP device.
pub const SINK: &str = "192.168.19.1";
/// The sink's port.
pub const SINK_PORT: u16 = 4318;
/// Time between exports.
pub const EXPORT_INTERVAL_MS: u64 = 1_000;
/// One export ends by this, delivered or not (what is not delivered is kept).
pub const EXPORT_TIMEOUT_MS: u32 = 5_000;
/// Cap on the exporter's own backoff and on the jitter over a server's `Retry-After`. The
/// `Retry-After` itself is honoured in full: one longer than what is left of the export
/// ends the export at once, its data kept, and the exports that start before it has
/// passed end at once too.
pub const MAX_DELAY_MS: u32 = 10_000;
/// Beyond the worst case (every export running to its deadline), the run ends by this
/// much, whatever happens.
const RUN_LIMIT_SLACK_MS: u64 = 10_000;

/// Exit statuses (the script prints them).
mod status {
    pub const OK: u32 = 0;
    pub const LAST_EXPORT_FAILED: u32 = 1;
    pub const NIC: u32 = 2;
    pub const OPTIONS: u32 = 3;
    pub const SETUP: u32 = 4;
    pub const RUN_LIMIT: u32 = 5;
    pub const HARD_FAULT: u32 = 100;
    pub const PANIC: u32 = 101;
}

static NIC_STATUS: NicStatus = NicStatus::new();

#[entry]
fn main() -> ! {
    board::run_on_process_stack(board_main)
}

extern "C" fn board_main() -> ! {
    let code = run();
    board::exit(code)
}

#[exception]
fn SysTick() {
    // First the latency, before anything else moves the counter on.
    let latency = board::cycles_since_wrap();
    board::tick();
    metrics::record_tick(latency);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    heprintln!("panic: {}", info);
    board::exit(status::PANIC)
}

/// `aa:bb:cc:dd:ee:ff` into `out`.
fn mac_text(mac: [u8; 6], out: &mut [u8; 17]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in mac.iter().enumerate() {
        let at = i * 3;
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xf)];
        if at + 2 < out.len() {
            out[at + 2] = b':';
        }
    }
    core::str::from_utf8(out).unwrap_or("?")
}

/// Times main-loop iterations (sleep excluded) and records them.
struct LoopMeter {
    series: LoopSeries,
    started_us: Cell<u64>,
    longest_us: Cell<u32>,
    /// What the current iteration did beyond polling the interface, and what the longest
    /// one did, so the figure says where the time went.
    doing: Cell<&'static str>,
    longest_doing: Cell<&'static str>,
    /// Frame counts already recorded.
    rx_seen: Cell<u32>,
    tx_seen: Cell<u32>,
    /// Link state last logged.
    link_logged: Cell<bool>,
}

impl LoopMeter {
    fn begin(&self) {
        self.started_us.set(board::now_us());
        self.doing.set("idle");
    }

    /// The current iteration did `what` (the last one said counts).
    fn doing(&self, what: &'static str) {
        self.doing.set(what);
    }

    /// The iteration that began at `begin` ends: record its time and the loop's duties
    /// (frame counts, link changes).
    fn end(&self) {
        let took = board::now_us().saturating_sub(self.started_us.get());
        let took = u32::try_from(took).unwrap_or(u32::MAX);
        if took > self.longest_us.get() {
            self.longest_us.set(took);
            self.longest_doing.set(self.doing.get());
        }
        self.series.record_iteration(took);
        let rx = NIC_STATUS.rx_frames.load(Ordering::Relaxed);
        let tx = NIC_STATUS.tx_frames.load(Ordering::Relaxed);
        self.series.record_frames(
            rx.wrapping_sub(self.rx_seen.replace(rx)),
            tx.wrapping_sub(self.tx_seen.replace(tx)),
        );
        let up = NIC_STATUS.link_up.load(Ordering::Relaxed);
        if up != self.link_logged.replace(up) {
            heprintln!(
                "link: {} at {} ms",
                if up { "up" } else { "down" },
                board::now_ms()
            );
        }
    }
}

fn run() -> u32 {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        return status::SETUP;
    };
    heprintln!(
        "board: mps2-an386, Cortex-M4F at {} MHz",
        board::CORE_HZ / 1_000_000
    );
    // Which temporality, how many exports: from the host, so one image serves both boots.
    let mut line = [0u8; 128];
    let options = match RunOptions::parse(board::host_cmdline(&mut line).unwrap_or("")) {
        Ok(options) => options,
        Err(e) => {
            heprintln!("options: {}", e);
            return status::OPTIONS;
        }
    };
    heprintln!(
        "run: temporality {}, {} exports",
        options.temporality_name(),
        options.exports
    );
    let run_limit_ms = u64::from(options.exports)
        * (EXPORT_INTERVAL_MS + u64::from(EXPORT_TIMEOUT_MS))
        + RUN_LIMIT_SLACK_MS;

    let Some(regs) = Regs::take_an386() else {
        return status::SETUP;
    };
    let nic = match Lan9118::new(regs, &NIC_STATUS) {
        Ok(nic) => nic,
        Err(e) => {
            heprintln!("nic: {:?}", e);
            return status::NIC;
        }
    };
    let Some(nic) = cortex_m::singleton!(: Lan9118 = nic) else {
        return status::SETUP;
    };
    let mac = nic.mac();
    let mut mac_buf = [0u8; 17];
    let mac_str = mac_text(mac, &mut mac_buf);
    heprintln!("mac {}", mac_str);
    heprintln!(
        "nic: chip {:04x}, link {}",
        nic.chip_id(),
        if NIC_STATUS.link_up.load(Ordering::Relaxed) {
            "up"
        } else {
            "down"
        }
    );
    // Per device (the MAC) and per boot (the NIC's free-running counter); a real board
    // uses its hardware RNG here.
    let seed = DeviceSeed::from_unique_id(&mac).mix(u64::from(nic.free_run()));

    // Unix time at boot from the host; SysTick starts at 0 right after. The registry must
    // know it before the series are bound: a series takes its start time when it is made,
    // and one bound earlier would start at 0 (1970) for good.
    let boot_unix_ns = u64::from(board::host_unix_seconds()) * 1_000_000_000;
    METRICS.set_start_time(boot_unix_ns);
    let series = match metrics::declare(options.temporality) {
        Ok(s) => s,
        Err(e) => {
            heprintln!("metrics: {:?}", e);
            return status::SETUP;
        }
    };
    let clock = SysTickClock;
    board::start_systick(peripherals.SYST);

    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = seed.value();
    let mut iface = Interface::new(config, nic, smol_instant(clock.now()));
    iface.update_ip_addrs(|addrs| {
        let [a, b, c, d] = BOARD_IP;
        let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), 24));
    });
    // The HTTP client's header buffer is lent from a static like the others, so that its
    // 1 KiB is not in the frame that holds the exporter.
    let (Some(storage), Some(rx_buf), Some(tx_buf), Some(request), Some(snapshot), Some(head)) = (
        cortex_m::singleton!(: [SocketStorage<'static>; 1] = [SocketStorage::EMPTY]),
        cortex_m::singleton!(: [u8; 2048] = [0; 2048]),
        cortex_m::singleton!(: [u8; 2048] = [0; 2048]),
        cortex_m::singleton!(: [u8; 2048] = [0; 2048]),
        cortex_m::singleton!(: MetricsSnapshot = MetricsSnapshot::new()),
        cortex_m::singleton!(: [u8; DEFAULT_HEAD_BUFFER] = [0; DEFAULT_HEAD_BUFFER]),
    ) else {
        return status::SETUP;
    };
    let mut sockets = SocketSet::new(&mut storage[..]);
    let handle = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut rx_buf[..]),
        tcp::SocketBuffer::new(&mut tx_buf[..]),
    ));
    let mut client: TcpClient = TcpClient::new(handle, seed);

    let resource_attributes = [
        KeyValue::new("service.name", AttributeValue::Str("otlp-embedded-board")),
        KeyValue::new("service.instance.id", AttributeValue::Str(mac_str)),
    ];
    let header = RequestHeader::new(
        Resource::new(&resource_attributes),
        Scope::new("otlp-embedded-firmware-qemu"),
    );
    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host: SINK,
        port: SINK_PORT,
        path: "/v1/metrics",
    };

    let meter = LoopMeter {
        series,
        started_us: Cell::new(0),
        longest_us: Cell::new(0),
        doing: Cell::new("idle"),
        longest_doing: Cell::new("idle"),
        rx_seen: Cell::new(0),
        tx_seen: Cell::new(0),
        link_logged: Cell::new(NIC_STATUS.link_up.load(Ordering::Relaxed)),
    };
    let mut exports = 0u32;
    let mut ticks_at_last_export = 0u32;
    let mut next_export = clock.now().add_millis(EXPORT_INTERVAL_MS);
    heprintln!(
        "net: {}.{}.{}.{}/24, sink http://{}:{}, {} exports every {} ms",
        BOARD_IP[0],
        BOARD_IP[1],
        BOARD_IP[2],
        BOARD_IP[3],
        SINK,
        SINK_PORT,
        options.exports,
        EXPORT_INTERVAL_MS
    );

    // One exporter for the device's life: a collector's `Retry-After` heard in one export
    // holds the next ones, and the jitter seed is the device's.
    let mut config = ExporterConfig::new(endpoint, header);
    config.export_timeout_ms = EXPORT_TIMEOUT_MS;
    config.request_timeout_ms = 2_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(200)
        .with_max_delay_ms(MAX_DELAY_MS);
    config.jitter_seed = client.next_jitter_seed();
    let mut exporter = Exporter::new(
        config,
        PollHttpClient::with_lent_head(ReaderConfig::new(), &mut head[..]),
    );
    let mut producer = &METRICS;
    // The export under way, if any, and whether it is the run's last.
    let mut exporting: Option<(ExportRun<'_>, bool)> = None;

    // Everything below the current frames is unused now: paint both stacks, with the
    // SysTick handler held off so it does not write into the main stack meanwhile.
    let marks = cortex_m::interrupt::free(|_| StackMarks::paint_now());

    // The superloop: each iteration polls the interface, starts an export when one is due,
    // advances the export under way by one `Exporter::poll` (which returns at once,
    // whatever the network does), keeps the loop's duties (timing, frame counts, link log)
    // and sleeps with `wfi` until the next interrupt unless smoltcp has work due now. No
    // call in an iteration waits, so the longest iteration bounds the loop's latency.
    let delivered_all = loop {
        meter.begin();
        let now = clock.now();
        if now.as_millis() > run_limit_ms {
            heprintln!(
                "run limit of {} ms reached after {} exports",
                run_limit_ms,
                exports
            );
            if let Some((mut run, _)) = exporting.take() {
                // Abort the exchange's connection rather than leave it open.
                let mut stack = PollStack::new(&mut client, &mut iface, &mut sockets);
                exporter.cancel(&mut run, &mut producer, snapshot, &mut stack);
                iface.poll(smol_instant(clock.now()), &mut *nic, &mut sockets);
            }
            return status::RUN_LIMIT;
        }
        iface.poll(smol_instant(now), &mut *nic, &mut sockets);

        if exporting.is_none() && now >= next_export {
            let last = exports + 1 == options.exports;
            if last {
                // From here on nothing is recorded, so the last export carries all that
                // is left and the sink's totals must equal the tallies printed below.
                metrics::stop_recording();
            }
            let unix_now = boot_unix_ns + now.as_millis() * 1_000_000;
            meter.doing("export start (snapshot)");
            let run = exporter.start(&mut producer, &mut *snapshot, unix_now, now);
            exporting = Some((run, last));
        }

        let mut finished = None;
        if let Some((run, last)) = exporting.as_mut() {
            if meter.doing.get() == "idle" {
                meter.doing("export poll");
            }
            let mut stack = PollStack::new(&mut client, &mut iface, &mut sockets);
            let polled = exporter.poll(
                run,
                &mut producer,
                &*snapshot,
                &mut request[..],
                &mut stack,
                &clock,
            );
            if let Poll::Ready(report) = polled {
                finished = Some((report, *last));
            }
        }

        if let Some((report, last)) = finished {
            exporting = None;
            exports += 1;
            meter.doing("export end (report printed)");
            let ticks = metrics::TICKS.sum();
            let socket_state = sockets.get::<tcp::Socket>(handle).state();
            heprintln!(
                "export {}: {:?}, points {} sent {} abandoned {} dropped {}, requests {} retries {}, bytes {}, ticks since last export {}, socket {}, client {:?}",
                exports,
                report.outcome,
                report.points_collected,
                report.points_sent,
                report.points_abandoned,
                report.points_dropped,
                report.requests,
                report.retries,
                report.bytes_sent,
                ticks.wrapping_sub(ticks_at_last_export),
                socket_state,
                client.phase(),
            );
            if let Some(e) = report.last_error {
                heprintln!("export {}: last error {:?}", exports, e);
            }
            ticks_at_last_export = ticks;
            if client.phase() != Phase::Closed {
                heprintln!("export {}: connection not closed", exports);
            }
            if last {
                meter.end();
                break report.outcome == ExportOutcome::Success && report.points_abandoned == 0;
            }
            // A slot missed while an export ran long (the link was down) is skipped, not
            // made up at once: exports stay an interval apart.
            next_export = next_export.add_millis(EXPORT_INTERVAL_MS);
            if next_export <= clock.now() {
                next_export = clock.now().add_millis(EXPORT_INTERVAL_MS);
            }
        }
        meter.end();
        // Sleep until the next SysTick unless smoltcp has work due now (such as a segment
        // the export just queued).
        let delay = iface.poll_delay(smol_instant(clock.now()), &sockets);
        if delay != Some(SmolDuration::ZERO) {
            cortex_m::asm::wfi();
        }
    };

    report(&marks, &meter, exports);
    if delivered_all {
        status::OK
    } else {
        status::LAST_EXPORT_FAILED
    }
}

/// Print what was recorded (the sink must have decoded exactly this), the loop and stack
/// figures, and the NIC's counts.
fn report(marks: &StackMarks, meter: &LoopMeter, exports: u32) {
    use metrics::{FRAMES_RX, FRAMES_TX, ITERATIONS, LATENCY, TICKS};
    let hist = |name: &str, t: &metrics::Tally| {
        let b = t.buckets();
        heprintln!(
            "recorded {} count={} sum={} buckets={},{},{},{},{},{},{} populated={}",
            name,
            t.count(),
            t.sum(),
            b[0],
            b[1],
            b[2],
            b[3],
            b[4],
            b[5],
            b[6],
            t.populated()
        );
    };
    heprintln!("recorded board.systick.ticks sum={}", TICKS.sum());
    hist("board.systick.latency", &LATENCY);
    hist("board.loop.iteration", &ITERATIONS);
    heprintln!(
        "recorded board.nic.frames{{direction=rx}} sum={}",
        FRAMES_RX.sum()
    );
    heprintln!(
        "recorded board.nic.frames{{direction=tx}} sum={}",
        FRAMES_TX.sum()
    );
    heprintln!("exports {}", exports);
    heprintln!("longest loop iteration {} us", meter.longest_us.get());
    heprintln!("longest loop iteration did: {}", meter.longest_doing.get());
    let (psp_cap, msp_cap) = marks.capacities();
    heprintln!(
        "stack main-loop (PSP) {} of {} bytes ({} in use when the loop started: run()'s frame, the export path inlined); handlers (MSP) {} of {} bytes",
        marks.main_loop_bytes(),
        psp_cap,
        marks.main_loop_frame_bytes(),
        marks.handlers_bytes(),
        msp_cap
    );
    heprintln!(
        "nic: rx {} discarded {} tx {} tx-errors {} tx-full {} link-changes {}",
        NIC_STATUS.rx_frames.load(Ordering::Relaxed),
        NIC_STATUS.rx_discarded.load(Ordering::Relaxed),
        NIC_STATUS.tx_frames.load(Ordering::Relaxed),
        NIC_STATUS.tx_errors.load(Ordering::Relaxed),
        NIC_STATUS.tx_full.load(Ordering::Relaxed),
        NIC_STATUS.link_changes.load(Ordering::Relaxed),
    );
    heprintln!("uptime {} ms", board::now_ms());
}
