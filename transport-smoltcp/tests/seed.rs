//! The device seed: the first local port from its low bits, unrelated jitter seeds for
//! neighbouring devices, the same stream for the same seed.

use otlp_embedded_smoltcp::{DeviceSeed, TcpClient, EPHEMERAL_FIRST};
use smoltcp::iface::{SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;

/// A TCP socket handle (smoltcp without `alloc` here: leaked storage).
fn handle() -> SocketHandle {
    let storage = Box::leak(Box::new([SocketStorage::EMPTY]));
    let mut sockets = SocketSet::new(&mut storage[..]);
    let rx: &'static mut [u8] = Box::leak(Box::new([0u8; 64]));
    let tx: &'static mut [u8] = Box::leak(Box::new([0u8; 64]));
    sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(rx),
        tcp::SocketBuffer::new(tx),
    ))
}

#[test]
fn the_low_bits_pick_the_first_port() {
    let client: TcpClient = TcpClient::new(handle(), DeviceSeed::new(1234));
    assert_eq!(client.ports().peek(), EPHEMERAL_FIRST + 1234);
    let client: TcpClient = TcpClient::new(handle(), DeviceSeed::new(0xABCD_0000_0000_4000 + 7));
    assert_eq!(client.ports().peek(), EPHEMERAL_FIRST + 7);
}

#[test]
fn jitter_seeds_are_a_stream_of_the_device_seed() {
    let seed = DeviceSeed::new(42);
    let mut a: TcpClient = TcpClient::new(handle(), seed);
    let mut b: TcpClient = TcpClient::new(handle(), seed);
    let from_a: Vec<u64> = (0..8).map(|_| a.next_jitter_seed()).collect();
    let from_b: Vec<u64> = (0..8).map(|_| b.next_jitter_seed()).collect();
    assert_eq!(from_a, from_b);
    let mut distinct = from_a.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 8);
    // Not the seed itself, nor a neighbour's first.
    let mut c: TcpClient = TcpClient::new(handle(), DeviceSeed::new(43));
    assert_ne!(from_a[0], 42);
    assert_ne!(c.next_jitter_seed(), from_a[0]);
}

#[test]
fn neighbouring_unique_ids_give_unrelated_seeds() {
    let seeds: Vec<u64> = (0u32..1_000)
        .map(|id| DeviceSeed::from_unique_id(&id.to_le_bytes()).value())
        .collect();
    let mut distinct = seeds.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), seeds.len());
    // Every nibble of the top byte and of the low 16 bits (the first port) is used about
    // equally: 1,000 seeds over 16 values, 62.5 each on average.
    for shift in [60, 0] {
        let mut bins = [0u32; 16];
        for s in &seeds {
            bins[((s >> shift) & 0xF) as usize] += 1;
        }
        assert!(
            bins.iter().all(|&n| (30..=100).contains(&n)),
            "shift {shift}: {bins:?}"
        );
    }
    // A 12-byte MCU id differing in its last bit.
    let mut id = *b"\x1f\x00\x3a\x00\x12\x51\x34\x36\x38\x39\x31\x30";
    let one = DeviceSeed::from_unique_id(&id);
    id[11] ^= 1;
    let other = DeviceSeed::from_unique_id(&id);
    assert!((one.value() ^ other.value()).count_ones() > 16);
    // The same id and boot count give the same seed; another boot another one.
    assert_eq!(
        one.mix(7),
        DeviceSeed::from_unique_id(&{
            let mut id = id;
            id[11] ^= 1;
            id
        })
        .mix(7)
    );
    assert_ne!(one.mix(7), one.mix(8));
    assert_ne!(one.mix(7), one);
}
