package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus series. They are registered on the
// registry the node passes in, never on a global one, so tests can run many
// relays in one process.
type metrics struct {
	connections   prometheus.Gauge
	subscriptions prometheus.Gauge
	messagesIn    *prometheus.CounterVec // by verb
	eventsIn      prometheus.Counter     // EVENTs received
	eventsStored  prometheus.Counter
	eventsOut     prometheus.Counter     // EVENT messages sent to clients
	rejects       *prometheus.CounterVec // by NIP-01 prefix
	storeSeconds  *prometheus.HistogramVec
	dropped       prometheus.Counter // connections dropped for reading too slowly
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_relay_connections", Help: "Open websocket connections."}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_relay_subscriptions", Help: "Open REQ subscriptions."}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_relay_messages_in_total", Help: "Client messages by verb."}, []string{"verb"}),
		eventsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_relay_events_in_total", Help: "EVENT messages received."}),
		eventsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_relay_events_stored_total", Help: "Events stored durably (OK true)."}),
		eventsOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_relay_events_out_total", Help: "EVENT messages sent to subscribers."}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_relay_rejects_total", Help: "Refusals by NIP-01 reason prefix."}, []string{"reason"}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_relay_store_seconds",
			Help:    "Store latency by operation (save includes the durable commit).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_relay_slow_connections_dropped_total", Help: "Connections closed because they did not read fast enough."}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.subscriptions, m.messagesIn, m.eventsIn, m.eventsStored,
			m.eventsOut, m.rejects, m.storeSeconds, m.dropped)
	}
	return m
}
