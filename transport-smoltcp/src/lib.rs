//! smoltcp TCP transport for otlp-embedded: firmware sends OTLP over its own smoltcp stack.
//!
//! Two forms over one state machine ([`TcpClient`]: Idle -> Connecting -> Established ->
//! Closing -> Closed), with every step bounded by an absolute deadline on the caller's clock:
//!
//! - **Poll form**: the firmware's superloop polls its `Interface` as usual and calls the
//!   step it is at ([`TcpClient::poll_connect`], [`TcpClient::send`], [`TcpClient::recv`],
//!   [`TcpClient::poll_close`]); each returns `WouldBlock` instead of waiting.
//! - **Blocking form**: [`Blocking`] borrows the client, interface, device, socket set and a
//!   clock and implements core's stream seam ([`Connect`](otlp_embedded::transport::Connect)),
//!   so core's HTTP client runs over it. It loops poll -> step -> idle hook (core's
//!   [`Wait`](otlp_embedded::time::Wait)).
//!
//! - **Superloop export**: [`PollStack`] is the poll form as core's non-blocking stream
//!   seam, a view of the stack built on each tick, so core's
//!   [`Exporter::poll`](otlp_embedded::export::Exporter::poll) over
//!   [`PollHttpClient`](otlp_embedded::http::PollHttpClient) runs a whole export, retries
//!   included, one short step per tick, never waiting.
//!
//! - **Whole export**: [`firmware::export_once`] runs one OTLP export (collect, encode, send,
//!   retry, settle) over a [`firmware::Stack`] (the borrowed stack, clock and idle hook)
//!   with [`Blocking`] under core's HTTP client and exporter, and returns its report.
//!
//! The caller keeps ownership of everything smoltcp: it creates the `tcp::Socket` with the
//! buffers it wants, adds it to its `SocketSet` and passes the handle. The endpoint's host
//! is turned into an address by a core [`Resolve`]: [`IpLiteral`] (the default), [`StaticHosts`],
//! or with the `dns` feature `dns::DnsResolver`, a DNS stub resolver over a UDP socket of
//! the caller's. Local ports come from [`PortWalker`]: the dynamic range walked from the
//! [`DeviceSeed`], none reused within 60 s; the same seed gives each export its retry
//! jitter.
//!
//! ```
//! use otlp_embedded::time::{Clock, Instant};
//! use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, Scheme};
//! use otlp_embedded_smoltcp::{Blocking, TcpClient};
//! use smoltcp::iface::{Interface, SocketSet};
//! use smoltcp::phy::Device;
//!
//! /// Send `body` to 10.0.0.2:4318 and read the reply into `reply`, blocking.
//! fn send_once<D: Device, K: Clock>(
//!     client: &mut TcpClient, // TcpClient::new(handle, device_seed), kept across exports
//!     iface: &mut Interface,
//!     device: &mut D,
//!     sockets: &mut SocketSet<'_>,
//!     clock: K,
//!     body: &[u8],
//!     reply: &mut [u8],
//! ) -> Result<usize, otlp_embedded::transport::TransportError> {
//!     use embedded_io::{Read, Write};
//!     let deadline = clock.now().add_millis(5_000);
//!     let mut connector = Blocking::new(client, iface, device, sockets, clock)
//!         .with_idle(|_now: Instant, _wake_by: Instant| { /* feed the watchdog, sleep */ });
//!     let endpoint = Endpoint::new(Scheme::Http, "10.0.0.2", 4318, "/");
//!     let mut conn = connector.connect(&endpoint, deadline)?;
//!     conn.set_deadline(deadline);
//!     let mut sent = 0;
//!     while sent < body.len() {
//!         match conn.write(&body[sent..]) {
//!             Ok(n) => sent += n,
//!             Err(e) => { let err = conn.classify(&e); let _ = conn.close(CloseMode::Abort); return Err(err); }
//!         }
//!     }
//!     let mut got = 0;
//!     loop {
//!         match conn.read(&mut reply[got..]) {
//!             Ok(0) => break,               // the peer's FIN, after everything it sent
//!             Ok(n) => got += n,
//!             Err(e) => { let err = conn.classify(&e); let _ = conn.close(CloseMode::Abort); return Err(err); }
//!         }
//!         if got == reply.len() { break; }
//!     }
//!     conn.close(CloseMode::Graceful)?;
//!     Ok(got)
//! }
//! ```
//!
//! The poll form in a superloop (one step per tick, nothing blocks):
//!
//! ```
//! use otlp_embedded::time::Instant;
//! use otlp_embedded::transport::CloseMode;
//! use otlp_embedded_smoltcp::{smol_instant, Phase, TcpClient};
//! use smoltcp::iface::{Interface, SocketSet};
//! use smoltcp::phy::Device;
//! use smoltcp::wire::{IpAddress, IpEndpoint};
//!
//! enum Job { Start, Connect, Send(usize), Recv, Close, Done }
//!
//! fn tick<D: Device>(now: Instant, job: &mut Job, client: &mut TcpClient,
//!                    iface: &mut Interface, dev: &mut D, sockets: &mut SocketSet<'_>) {
//!     iface.poll(smol_instant(now), dev, sockets);
//!     let request = b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n";
//!     *job = match core::mem::replace(job, Job::Done) {
//!         Job::Start => {
//!             let remote = IpEndpoint::new(IpAddress::v4(10, 0, 0, 2), 80);
//!             client.start_connect(sockets, remote, now.add_millis(3_000));
//!             Job::Connect
//!         }
//!         Job::Connect => match client.poll_connect(iface, sockets, now) {
//!             Ok(()) => Job::Send(0),
//!             Err(nb::Error::WouldBlock) => Job::Connect,
//!             Err(nb::Error::Other(_)) => Job::Done,
//!         },
//!         Job::Send(n) if n == request.len() => Job::Recv,
//!         Job::Send(n) => match client.send(sockets, &request[n..], now) {
//!             Ok(k) => Job::Send(n + k),
//!             Err(nb::Error::WouldBlock) => Job::Send(n),
//!             Err(nb::Error::Other(_)) => { client.abort(sockets); Job::Done }
//!         },
//!         Job::Recv => {
//!             let mut buf = [0u8; 256];
//!             match client.recv(sockets, &mut buf, now) {
//!                 Ok(0) => { client.start_close(sockets, CloseMode::Graceful, now.add_millis(1_000)); Job::Close }
//!                 Ok(_) | Err(nb::Error::WouldBlock) => Job::Recv,
//!                 Err(nb::Error::Other(_)) => { client.abort(sockets); Job::Done }
//!             }
//!         }
//!         Job::Close => match client.poll_close(sockets, now) {
//!             Err(nb::Error::WouldBlock) => Job::Close,
//!             _ => Job::Done,
//!         },
//!         Job::Done => Job::Done,
//!     };
//!     debug_assert!(matches!(*job, Job::Done) || client.phase() != Phase::Idle);
//! }
//! ```
//!
//! ## Notes for firmware
//!
//! - Deadlines end every wait, so the clock must advance: a blocking step spins (calling
//!   the idle hook) until `now` reaches its deadline.
//! - One [`TcpClient`] drives one socket, one connection at a time; the same socket serves
//!   connection after connection (a socket left in `TimeWait` is reused at once, with a new
//!   local port). For concurrent connections give each its own socket and client.
//! - Give each device its own [`DeviceSeed`], different on each boot: it picks the first
//!   local port and the retry jitter, so a fleet does not retry in lockstep.
//! - Socket options (Nagle, ACK delay, buffer sizes) stay the caller's: the transport only
//!   connects, sends, receives and closes.
//!
//! ## smoltcp versions: this crate and otlp-embedded-embassy
//!
//! This crate uses smoltcp 0.14 through the caller's own `Interface` and `SocketSet`.
//! `otlp-embedded-embassy`, the transport for async firmware, goes through embassy-net 0.9,
//! which pins smoltcp 0.13. To cargo the two are different crates, so a build that has both
//! transports links both smoltcp versions, and their types do not mix (an `IpAddress` of
//! one is not one of the other). A firmware uses one of them: its own smoltcp interface and
//! this crate (superloop or blocking), or embassy-net and `otlp-embedded-embassy` (async).
//! Core (protocol, HTTP, exporter) depends on neither smoltcp.
//!
//! ## Features
//!
//! smoltcp is used with its default features off. `defmt` and `log` pass through to
//! smoltcp's logging (smoltcp refuses both at once); `defmt` also derives `defmt::Format`.
//! `proto-ipv4`, `proto-ipv6`, `medium-ethernet` and `medium-ip` (all on by default) pass
//! through to smoltcp; a firmware names only what it uses. `dns` adds the `dns` module
//! (host names; smoltcp's `socket-udp`): 6.1 KB of code and 216 bytes of RAM plus the UDP
//! socket's buffers on a Cortex-M4F, IPv4-only (see that module's docs), which a firmware
//! that exports to an address does not link.
#![no_std]
#![forbid(unsafe_code)]
// docs.rs (nightly, `--cfg docsrs`) marks each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

// smoltcp builds without an IP version, and this crate would then refuse every host at run
// time; say so at build time instead.
#[cfg(not(any(feature = "proto-ipv4", feature = "proto-ipv6")))]
compile_error!(
    "otlp-embedded-smoltcp needs an IP version: enable its `proto-ipv4` or `proto-ipv6` feature (or both)"
);

mod blocking;
mod client;
#[cfg(feature = "dns")]
pub mod dns;
pub mod firmware;
mod poll;
mod ports;
mod resolve;
mod seed;

pub use blocking::{smol_instant, Blocking, NoIdle, SmolConnection, SmolStack};
pub use client::{Phase, TcpClient};
/// Core's resolver seam, which this crate's resolvers implement (re-exported here so that
/// firmware code names one crate).
pub use otlp_embedded::transport::Resolve;
pub use poll::{PollResolve, PollStack};
pub use ports::{PortWalker, EPHEMERAL_FIRST, EPHEMERAL_LAST, PORT_QUIET_MS};
pub use resolve::{parse_ip_literal, IpLiteral, StackAccess, StaticHosts};
pub use seed::DeviceSeed;

// The README's example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
