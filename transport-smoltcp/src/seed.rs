//! The per-device seed and the pseudo-random streams drawn from it.

/// A per-device, per-boot seed: where a board's local ports, retry jitter and DNS query
/// ids come from.
///
/// A fleet of devices that lose their collector at the same moment must not come back at
/// the same moments, and a device that reboots must not reuse the local ports (and DNS ids)
/// of its previous life. Both need a value that differs per device and per boot; there is
/// deliberately no default. Give a hardware RNG value ([`DeviceSeed::new`]), or the device's
/// unique id hashed together with something that changes on each boot, such as a boot
/// counter kept in flash ([`DeviceSeed::from_unique_id`] then [`DeviceSeed::mix`]).
///
/// The streams drawn from the seed are splitmix64: fast, well mixed (seeds that differ in
/// one bit give unrelated streams) and tiny, but not cryptographic. They spread a fleet and
/// make ids and ports hard to guess off-path; they are not key material.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceSeed(u64);

/// splitmix64's increment: the golden ratio in 64-bit fixed point.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl DeviceSeed {
    /// A seed from a random value (a hardware RNG read at boot; the value given to smoltcp's
    /// `Config::random_seed` will do). Its low 16 bits also pick the first local port, as
    /// [`PortWalker::new`](crate::PortWalker::new) describes.
    pub const fn new(random: u64) -> Self {
        DeviceSeed(random)
    }

    /// A seed from the device's unique id (the MCU's factory id, a MAC address, a serial
    /// number), hashed (FNV-1a, then mixed) so that neighbouring ids give unrelated seeds.
    ///
    /// A unique id alone is the same on every boot: fold in something that is not, with
    /// [`mix`](Self::mix), so that a rebooted device does not reuse its recent local ports.
    pub const fn from_unique_id(id: &[u8]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < id.len() {
            hash ^= id[i] as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        DeviceSeed(mix64(hash))
    }

    /// This seed with `value` (a boot counter, an RTC reading, a second RNG word) folded in.
    pub const fn mix(self, value: u64) -> Self {
        DeviceSeed(mix64(self.0 ^ mix64(value)))
    }

    /// The seed's value.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// A stream of pseudo-random values from this seed; `stream` tells independent streams
    /// of the same seed apart.
    pub(crate) const fn stream(self, stream: u64) -> SplitMix {
        SplitMix {
            state: self.0 ^ mix64(stream),
        }
    }
}

/// splitmix64's output function: a bijection of `u64` in which every input bit affects
/// every output bit.
pub(crate) const fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A splitmix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix {
    state: u64,
}

impl SplitMix {
    /// The next value.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let value = mix64(self.state);
        self.state = self.state.wrapping_add(GOLDEN);
        value
    }

    /// The next value's high 16 bits (the best mixed ones).
    #[cfg(feature = "dns")]
    pub(crate) fn next_u16(&mut self) -> u16 {
        (self.next_u64() >> 48) as u16
    }
}

/// Stream ids: one per use of the seed, so that the uses do not share values.
pub(crate) mod streams {
    /// Retry jitter seeds, one per export.
    pub(crate) const JITTER: u64 = 1;
    /// DNS query ids and source ports.
    #[cfg(feature = "dns")]
    pub(crate) const DNS: u64 = 2;
}
