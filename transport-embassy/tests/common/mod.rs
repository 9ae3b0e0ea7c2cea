//! What the host-run embassy tests share: embassy's std executor with a time limit
//! ([`run`]), an in-memory Ethernet link with seeded loss and corruption ([`link`]), and a
//! recording wrapper around the connector under core's async client and the crate's
//! `export_once` ([`http`]).
#![allow(dead_code)]

pub mod http;
pub mod link;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use embassy_executor::Executor;
use embassy_futures::select::{select, Either};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};

/// Every test's work runs as one task of this kind; a task that panics keeps its slot, so
/// there are a few spare.
#[embassy_executor::task(pool_size = 8)]
async fn boxed(work: Pin<Box<dyn Future<Output = ()>>>) {
    work.await
}

/// Run `work` on embassy-executor's std executor (this thread, woken through embassy-time's
/// std driver and the devices' wakers) until it completes, and return its output. Past
/// `limit` the test fails: every wait in the tests ends.
pub fn run<T: 'static>(limit: Duration, work: impl Future<Output = T> + 'static) -> T {
    let output: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let slot = Rc::clone(&output);
    let bounded = async move {
        let timer = embassy_time::Timer::after_millis(limit.as_millis() as u64);
        match select(work, timer).await {
            Either::First(value) => *slot.borrow_mut() = Some(value),
            Either::Second(()) => panic!("the test's work ran past {limit:?}"),
        }
    };
    // The executor wants to live forever: one small leak per test.
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    let done = Rc::clone(&output);
    executor.run_until(
        |spawner| spawner.spawn(boxed(Box::pin(bounded)).expect("a free task slot")),
        move || done.borrow().is_some(),
    );
    let value = output.borrow_mut().take();
    value.expect("the work finished")
}

/// A static IPv4 configuration: `address`/24, no gateway, `dns` as the DNS servers.
pub fn ipv4_config(address: Ipv4Address, dns: &[Ipv4Address]) -> Config {
    Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(address, 24),
        gateway: None,
        dns_servers: dns.iter().copied().collect(),
    })
}

/// An embassy-net stack on `device`, its resources leaked (a test's stack lives for the
/// test): room for four sockets (DNS, the connector's, and spares).
pub fn stack<D: embassy_net_driver::Driver>(
    device: D,
    config: Config,
    seed: u64,
) -> (Stack<'static>, Runner<'static, D>) {
    let resources: &'static mut StackResources<4> = Box::leak(Box::new(StackResources::new()));
    embassy_net::new(device, config, resources, seed)
}
