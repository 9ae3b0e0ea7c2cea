use otlp_embedded::export::ExporterConfig;
use otlp_embedded::proto::{KeyValue, RequestHeader, Resource, Scope};
use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_examples::board; // your board support: network device, clock, RNG
use otlp_embedded_smoltcp::firmware::{export_once, Stack};
use otlp_embedded_smoltcp::{DeviceSeed, IpLiteral, TcpClient};
use smoltcp::iface::{SocketSet, SocketStorage};
use smoltcp::socket::tcp;

// 4 instruments, 16 series, 16 bytes of attribute values per series, 2 histogram series,
// 32 bucket counters.
type Metrics = Registry<4, 16, 16, 2, 32>;

fn main() {
    let mut board = board::Board::init();
    let mut metrics = Metrics::new(board.unix_nanos());
    let boots = InstrumentDesc::counter_u64("boots").attributes(&["reason"]);
    let boots = metrics.declare(boots).expect("room for 4 instruments");
    let reason = [KeyValue::str("reason", "power-on")];
    metrics.record(boots, 1u64, &reason).expect("record boots");

    // One TCP socket for the exporter, and its client state, kept across exports.
    let (mut rx, mut tx, mut storage) = ([0u8; 1024], [0u8; 2048], [SocketStorage::EMPTY]);
    let mut sockets = SocketSet::new(&mut storage[..]);
    let socket = tcp::Socket::new(
        tcp::SocketBuffer::new(&mut rx[..]),
        tcp::SocketBuffer::new(&mut tx[..]),
    );
    let mut client: TcpClient =
        TcpClient::new(sockets.add(socket), DeviceSeed::new(board.random_u64()));

    let resource = [KeyValue::str("service.name", "pump")];
    let header = RequestHeader::new(Resource::new(&resource), Scope::new("pump-firmware"));
    let endpoint = Endpoint::new(Scheme::Http, "10.0.0.2", 4318, "/v1/metrics");
    let config = ExporterConfig::new(endpoint, header);
    let (mut snapshot, mut buffer) = (SnapshotOf::<Metrics>::new(), [0u8; 1024]);
    while board.wait_for_next_export() {
        let unix_now = board.unix_nanos();
        let stack = Stack {
            client: &mut client,
            iface: &mut board.iface,
            device: &mut board.ethernet,
            sockets: &mut sockets,
            clock: &board.clock,
            idle: board::idle, // feed the watchdog, sleep until an interrupt
            resolver: IpLiteral,
        };
        let report = export_once(
            stack,
            &mut metrics,
            &mut snapshot,
            &mut buffer,
            config,
            unix_now,
        );
        board.show(&report); // a failed export keeps its data for the next one
    }
}
