//! A polled driver for the SMSC LAN9118 / LAN9220 Ethernet controller, as smoltcp's
//! `phy::Device`: the reference driver a board port replaces with its own MAC driver.
//!
//! The chip sits on the memory bus (mps2-an386: at 0x4020_0000, 32-bit accesses). It has a
//! transmit data FIFO that takes a frame as two command words and its bytes, little-endian
//! words; a receive status FIFO with one word per frame (length with the 4-byte FCS,
//! error flag) and a receive data FIFO with the frame's words. MAC registers are reached
//! through a command/data register pair, the PHY through the MAC's MII registers.
//!
//! What this driver does, and why:
//! - **Reset and identify**: waits for the byte-order test register, checks the chip ID
//!   (LAN9118 or the LAN9220 a real AN386 carries; anything else is an error value), soft
//!   resets and waits for the ready flag, each wait bounded.
//! - **MAC address from the chip**: the chip loads it from its EEPROM (QEMU sets it from
//!   `-nic ...,mac=`); the driver reads it back rather than inventing one.
//! - **Transmit and receive enables set explicitly** (`TX_CFG.TX_ON`, `MAC_CR.TXEN|RXEN`):
//!   QEMU ignores some of them, real silicon does not.
//! - **Frames are discarded by reading them** out of the data FIFO, never with the
//!   fast-forward bit: QEMU's fast-forward is unreliable.
//! - **The NIC interrupt stays masked** (`INT_EN = 0`, `IRQ_CFG.IRQ_EN = 0`): the superloop
//!   polls, and a SysTick interrupt wakes it from `wfi` at least every millisecond.
//!
//! All register access goes through [`Regs`], whose only `unsafe` is in its constructor's
//! contract and the two volatile accesses; the program gets its one `Regs` from the safe
//! [`Regs::take_an386`].

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SmolInstant;

/// The AN386's Ethernet controller base address.
pub const AN386_BASE: usize = 0x4020_0000;

/// Largest Ethernet frame handled (without FCS): 1500 bytes of payload and a 14-byte header.
pub const MAX_FRAME: usize = 1514;

/// Register offsets from the datasheet's system control and status register map.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(usize)]
enum Reg {
    /// Receive data FIFO port (any offset 0x00..0x1c reads the same FIFO).
    RxData = 0x00,
    /// Transmit data FIFO port.
    TxData = 0x20,
    /// Receive status FIFO port: one word per frame, popped on read.
    RxStatus = 0x40,
    /// Transmit status FIFO port: one word per frame sent, popped on read.
    TxStatus = 0x48,
    /// Chip ID (high half) and revision (low half).
    IdRev = 0x50,
    /// Interrupt pin configuration.
    IrqCfg = 0x54,
    /// Interrupt status; write ones to clear.
    IntSts = 0x58,
    /// Interrupt enables.
    IntEn = 0x5c,
    /// Reads 0x87654321 once the bus interface is up, whatever the byte order.
    ByteTest = 0x64,
    /// Receive configuration (data offset, end alignment).
    RxCfg = 0x6c,
    /// Transmit configuration (TX_ON).
    TxCfg = 0x70,
    /// Hardware configuration (soft reset, FIFO sizes).
    HwCfg = 0x74,
    /// Receive FIFO fill: status words used (bits 23:16), data bytes used (15:0).
    RxFifoInf = 0x7c,
    /// Transmit FIFO fill: status words used (bits 23:16), data bytes free (15:0).
    TxFifoInf = 0x80,
    /// Power management control: READY (bit 0) after reset.
    PmtCtrl = 0x84,
    /// Free-running 25 MHz counter.
    FreeRun = 0x9c,
    /// MAC register access: busy (31), read (30), index (7:0).
    MacCsrCmd = 0xa4,
    /// MAC register data.
    MacCsrData = 0xa8,
}

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const ID_LAN9118: u32 = 0x0118;
const ID_LAN9220: u32 = 0x9220;

const HW_CFG_SRST: u32 = 1 << 0;
/// HW_CFG bit 20 must be written as one.
const HW_CFG_MBO: u32 = 1 << 20;
/// TX FIFO size in KiB (bits 19:16); 5 is the reset value: 4.5 KiB data, the rest RX.
const HW_CFG_TX_FIF_SZ_5: u32 = 5 << 16;
const PMT_CTRL_READY: u32 = 1 << 0;
const TX_CFG_TX_ON: u32 = 1 << 1;
const MAC_CSR_BUSY: u32 = 1 << 31;
const MAC_CSR_READ: u32 = 1 << 30;

/// MAC register indices (through `MAC_CSR_CMD`).
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_MII_ACC: u32 = 6;
const MAC_MII_DATA: u32 = 7;

const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;
/// Full duplex.
const MAC_CR_FDPX: u32 = 1 << 20;

/// The internal PHY's MII address.
const PHY_ADDR: u32 = 1;
const MII_ACC_BUSY: u32 = 1 << 0;
const MII_ACC_WRITE: u32 = 1 << 1;
const PHY_BCR: u32 = 0;
const PHY_BSR: u32 = 1;
const PHY_ANAR: u32 = 4;
const PHY_ANLPAR: u32 = 5;
const PHY_BCR_RESET: u32 = 1 << 15;
const PHY_BCR_AN_ENABLE: u32 = 1 << 12;
const PHY_BCR_AN_RESTART: u32 = 1 << 9;
const PHY_BSR_LINK: u32 = 1 << 2;
/// Advertise 10/100, half and full duplex, IEEE 802.3.
const PHY_ANAR_ALL: u32 = 0x01e1;
/// 100BASE-TX full duplex and 10BASE-T full duplex ability bits (ANAR/ANLPAR).
const PHY_FULL_DUPLEX: u32 = (1 << 8) | (1 << 6);

/// Transmit command A: first segment, last segment, buffer size in bits 10:0.
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;
/// Receive status: error summary.
const RX_STS_ERROR: u32 = 1 << 15;
/// Transmit status: error summary.
const TX_STS_ERROR: u32 = 1 << 15;

/// How many register reads a bounded wait makes before giving up. The chip needs far
/// fewer: reset completes within microseconds (QEMU: at once), a MAC/MII access in under
/// a microsecond.
const WAIT_READS: u32 = 100_000;

/// What went wrong bringing the chip up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InitError {
    /// `BYTE_TEST` never read 0x87654321: no chip, or the bus is not set up.
    NotResponding,
    /// The chip ID (high half of `ID_REV`) is neither LAN9118 nor LAN9220.
    UnknownChip(u32),
    /// A wait ran out of reads: which one.
    Timeout(&'static str),
}

/// The controller's register block. Every access is a 32-bit volatile access.
pub struct Regs {
    base: usize,
}

impl Regs {
    /// The register block at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a LAN9118-compatible register block that is mapped
    /// and that nothing else in the program accesses while this value lives.
    const unsafe fn new(base: usize) -> Self {
        Regs { base }
    }

    /// The AN386's register block the first time, `None` ever after: one `Regs` at most
    /// drives the chip, as `cortex_m::Peripherals::take` does for the core's peripherals.
    pub fn take_an386() -> Option<Self> {
        /// Whether the AN386's register block has been handed out.
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: AN386_BASE is the AN386's LAN9118 register block, mapped on that board,
        // and the flag just set makes this the only `Regs` ever made for it.
        Some(unsafe { Regs::new(AN386_BASE) })
    }

    fn read(&self, reg: Reg) -> u32 {
        // SAFETY: `new`'s contract: `base + reg` is a mapped, 4-aligned device register
        // that only this value touches. A read has side effects only on FIFO ports, which
        // the callers use for exactly that.
        unsafe { core::ptr::read_volatile((self.base + reg as usize) as *const u32) }
    }

    fn write(&self, reg: Reg, value: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + reg as usize) as *mut u32, value) }
    }

    /// Read until `done(value)`, at most [`WAIT_READS`] times.
    fn wait(
        &self,
        reg: Reg,
        what: &'static str,
        done: impl Fn(u32) -> bool,
    ) -> Result<u32, InitError> {
        for _ in 0..WAIT_READS {
            let v = self.read(reg);
            if done(v) {
                return Ok(v);
            }
        }
        Err(InitError::Timeout(what))
    }

    fn mac_read(&self, index: u32) -> Result<u32, InitError> {
        self.wait(Reg::MacCsrCmd, "MAC_CSR_CMD busy", |v| {
            v & MAC_CSR_BUSY == 0
        })?;
        self.write(Reg::MacCsrCmd, MAC_CSR_BUSY | MAC_CSR_READ | index);
        self.wait(Reg::MacCsrCmd, "MAC_CSR_CMD busy", |v| {
            v & MAC_CSR_BUSY == 0
        })?;
        Ok(self.read(Reg::MacCsrData))
    }

    fn mac_write(&self, index: u32, value: u32) -> Result<(), InitError> {
        self.wait(Reg::MacCsrCmd, "MAC_CSR_CMD busy", |v| {
            v & MAC_CSR_BUSY == 0
        })?;
        self.write(Reg::MacCsrData, value);
        self.write(Reg::MacCsrCmd, MAC_CSR_BUSY | index);
        self.wait(Reg::MacCsrCmd, "MAC_CSR_CMD busy", |v| {
            v & MAC_CSR_BUSY == 0
        })?;
        Ok(())
    }

    fn mii_wait(&self) -> Result<(), InitError> {
        for _ in 0..WAIT_READS {
            if self.mac_read(MAC_MII_ACC)? & MII_ACC_BUSY == 0 {
                return Ok(());
            }
        }
        Err(InitError::Timeout("MII busy"))
    }

    fn phy_read(&self, reg: u32) -> Result<u32, InitError> {
        self.mii_wait()?;
        self.mac_write(MAC_MII_ACC, (PHY_ADDR << 11) | (reg << 6) | MII_ACC_BUSY)?;
        self.mii_wait()?;
        Ok(self.mac_read(MAC_MII_DATA)? & 0xffff)
    }

    fn phy_write(&self, reg: u32, value: u32) -> Result<(), InitError> {
        self.mii_wait()?;
        self.mac_write(MAC_MII_DATA, value & 0xffff)?;
        self.mac_write(
            MAC_MII_ACC,
            (PHY_ADDR << 11) | (reg << 6) | MII_ACC_WRITE | MII_ACC_BUSY,
        )?;
        self.mii_wait()
    }
}

/// Frame, error and link counts since reset, shared with the rest of the program: the
/// main loop reads them while an export holds the driver.
#[derive(Debug)]
pub struct NicStatus {
    /// Frames handed to smoltcp.
    pub rx_frames: AtomicU32,
    /// Frames read out and discarded: receive errors, or longer than [`MAX_FRAME`].
    pub rx_discarded: AtomicU32,
    /// Frames written to the transmit FIFO.
    pub tx_frames: AtomicU32,
    /// Transmit status words with the error flag.
    pub tx_errors: AtomicU32,
    /// Transmits refused because the FIFO had no room (smoltcp retries on its next poll).
    pub tx_full: AtomicU32,
    /// The PHY's link state at the last check.
    pub link_up: AtomicBool,
    /// Link state changes seen.
    pub link_changes: AtomicU32,
}

impl NicStatus {
    /// All zero, link down.
    pub const fn new() -> Self {
        NicStatus {
            rx_frames: AtomicU32::new(0),
            rx_discarded: AtomicU32::new(0),
            tx_frames: AtomicU32::new(0),
            tx_errors: AtomicU32::new(0),
            tx_full: AtomicU32::new(0),
            link_up: AtomicBool::new(false),
            link_changes: AtomicU32::new(0),
        }
    }
}

fn bump(counter: &AtomicU32) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How often the PHY's link state is read, in milliseconds (each read is several MII
/// transactions).
const LINK_CHECK_MS: i64 = 100;

/// The LAN9118 as a smoltcp `Device`: polled, one frame buffer each way.
pub struct Lan9118 {
    regs: Regs,
    mac: [u8; 6],
    chip_id: u32,
    rx: [u8; MAX_FRAME],
    tx: [u8; MAX_FRAME],
    status: &'static NicStatus,
    /// When the link was last checked (smoltcp's milliseconds).
    link_checked_ms: i64,
}

impl Lan9118 {
    /// Reset and bring up the chip behind `regs`: identify it, read its MAC address,
    /// restart PHY auto-negotiation, enable transmit and receive, mask its interrupt.
    /// Counts and link state go to `status`.
    pub fn new(regs: Regs, status: &'static NicStatus) -> Result<Self, InitError> {
        regs.wait(Reg::ByteTest, "BYTE_TEST", |v| v == BYTE_TEST_VALUE)
            .map_err(|_| InitError::NotResponding)?;
        let chip_id = regs.read(Reg::IdRev) >> 16;
        if chip_id != ID_LAN9118 && chip_id != ID_LAN9220 {
            return Err(InitError::UnknownChip(chip_id));
        }
        regs.write(Reg::HwCfg, HW_CFG_SRST);
        regs.wait(Reg::HwCfg, "HW_CFG.SRST", |v| v & HW_CFG_SRST == 0)?;
        regs.wait(Reg::PmtCtrl, "PMT_CTRL.READY", |v| v & PMT_CTRL_READY != 0)?;
        regs.write(Reg::HwCfg, HW_CFG_MBO | HW_CFG_TX_FIF_SZ_5);

        // Polled: the NIC interrupt stays masked and its pending flags cleared.
        regs.write(Reg::IntEn, 0);
        regs.write(Reg::IntSts, 0xffff_ffff);
        regs.write(Reg::IrqCfg, 0);

        let low = regs.mac_read(MAC_ADDRL)?.to_le_bytes();
        let high = regs.mac_read(MAC_ADDRH)?.to_le_bytes();
        let mac = [low[0], low[1], low[2], low[3], high[0], high[1]];

        regs.phy_write(PHY_BCR, PHY_BCR_RESET)?;
        let mut reset_done = false;
        for _ in 0..WAIT_READS {
            if regs.phy_read(PHY_BCR)? & PHY_BCR_RESET == 0 {
                reset_done = true;
                break;
            }
        }
        if !reset_done {
            return Err(InitError::Timeout("PHY reset"));
        }
        regs.phy_write(PHY_ANAR, PHY_ANAR_ALL)?;
        regs.phy_write(PHY_BCR, PHY_BCR_AN_ENABLE | PHY_BCR_AN_RESTART)?;
        // Duplex from what both ends advertise; the MAC must agree with the PHY.
        let partner = regs.phy_read(PHY_ANLPAR)?;
        let duplex = if partner & PHY_ANAR_ALL & PHY_FULL_DUPLEX != 0 {
            MAC_CR_FDPX
        } else {
            0
        };

        // Reset leaves the MAC promiscuous in QEMU; unicast to us and broadcast only.
        regs.write(Reg::RxCfg, 0);
        regs.write(Reg::TxCfg, TX_CFG_TX_ON);
        regs.mac_write(MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN | duplex)?;

        let nic = Lan9118 {
            regs,
            mac,
            chip_id,
            rx: [0; MAX_FRAME],
            tx: [0; MAX_FRAME],
            status,
            link_checked_ms: 0,
        };
        status.link_up.store(nic.read_link(), Ordering::Relaxed);
        Ok(nic)
    }

    /// The MAC address the chip holds.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The chip ID read at reset (0x0118 or 0x9220).
    pub fn chip_id(&self) -> u32 {
        self.chip_id
    }

    /// The free-running counter (25 MHz from reset): differs from boot to boot, so it
    /// feeds the device seed.
    pub fn free_run(&self) -> u32 {
        self.regs.read(Reg::FreeRun)
    }

    /// Whether the PHY reports the link up (basic status register; QEMU mirrors the
    /// monitor's `set_link`, while a TAP device going down is invisible to it).
    fn read_link(&self) -> bool {
        // The status bit latches low on a link loss: read twice for the current state.
        let _ = self.regs.phy_read(PHY_BSR);
        matches!(self.regs.phy_read(PHY_BSR), Ok(v) if v & PHY_BSR_LINK != 0)
    }

    /// Pop one received frame into `self.rx`; its length, or `None` when nothing waits.
    /// Frames with errors or too long are read out and dropped, counted.
    fn pop_frame(&mut self) -> Option<usize> {
        let counts = self.status;
        loop {
            let used_status = (self.regs.read(Reg::RxFifoInf) >> 16) & 0xff;
            if used_status == 0 {
                return None;
            }
            let status = self.regs.read(Reg::RxStatus);
            // Length in bytes, the 4-byte FCS included.
            let len = ((status >> 16) & 0x3fff) as usize;
            let words = len.div_ceil(4);
            let frame_len = len.saturating_sub(4);
            if status & RX_STS_ERROR != 0 || frame_len > MAX_FRAME || frame_len == 0 {
                // Discard by reading every word: the data FIFO must stay in step with
                // the status FIFO.
                for _ in 0..words {
                    let _ = self.regs.read(Reg::RxData);
                }
                bump(&counts.rx_discarded);
                continue;
            }
            for i in 0..words {
                let word = self.regs.read(Reg::RxData).to_le_bytes();
                for (k, byte) in word.iter().enumerate() {
                    if let Some(slot) = self.rx.get_mut(i * 4 + k) {
                        *slot = *byte;
                    }
                }
            }
            bump(&counts.rx_frames);
            return Some(frame_len);
        }
    }

    /// Read transmit status words so the status FIFO never fills (a full one stalls
    /// transmission on real silicon), counting errors.
    fn drain_tx_status(regs: &Regs, status: &NicStatus) {
        let used = (regs.read(Reg::TxFifoInf) >> 16) & 0xff;
        for _ in 0..used {
            if regs.read(Reg::TxStatus) & TX_STS_ERROR != 0 {
                bump(&status.tx_errors);
            }
        }
    }

    /// Read the PHY's link state when [`LINK_CHECK_MS`] passed since the last read, and
    /// publish it.
    fn check_link(&mut self, now_ms: i64) {
        if now_ms.saturating_sub(self.link_checked_ms) < LINK_CHECK_MS {
            return;
        }
        self.link_checked_ms = now_ms;
        let up = self.read_link();
        if self.status.link_up.swap(up, Ordering::Relaxed) != up {
            bump(&self.status.link_changes);
        }
    }

    /// Whether the transmit data FIFO has room for a frame of `len` bytes and its two
    /// command words.
    fn tx_room(regs: &Regs, len: usize) -> bool {
        let free = (regs.read(Reg::TxFifoInf) & 0xffff) as usize;
        free >= len.div_ceil(4) * 4 + 8
    }
}

/// A received frame, already out of the chip.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room to build one frame; written to the chip on `consume`.
pub struct TxToken<'a> {
    regs: &'a Regs,
    buffer: &'a mut [u8; MAX_FRAME],
    status: &'static NicStatus,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MAX_FRAME);
        let frame = &mut self.buffer[..len];
        let result = f(frame);
        Lan9118::drain_tx_status(self.regs, self.status);
        if !Lan9118::tx_room(self.regs, len) {
            // `transmit` checked for room; only a full FIFO since then lands here.
            bump(&self.status.tx_full);
            return result;
        }
        // One segment: first and last, no offset, 4-byte end alignment; the tag (high half
        // of command B) is unused.
        self.regs
            .write(Reg::TxData, TX_CMD_A_FIRST | TX_CMD_A_LAST | len as u32);
        self.regs.write(Reg::TxData, len as u32);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.regs.write(Reg::TxData, u32::from_le_bytes(word));
        }
        bump(&self.status.tx_frames);
        result
    }
}

impl Device for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, timestamp: SmolInstant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // smoltcp calls this on every poll: the link check rides on it.
        self.check_link(timestamp.total_millis());
        let len = self.pop_frame()?;
        Some((
            RxToken {
                frame: self.rx.get(..len)?,
            },
            TxToken {
                regs: &self.regs,
                buffer: &mut self.tx,
                status: self.status,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: SmolInstant) -> Option<TxToken<'_>> {
        Lan9118::drain_tx_status(&self.regs, self.status);
        if !Lan9118::tx_room(&self.regs, MAX_FRAME) {
            bump(&self.status.tx_full);
            return None;
        }
        Some(TxToken {
            regs: &self.regs,
            buffer: &mut self.tx,
            status: self.status,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(1);
        caps
    }
}
