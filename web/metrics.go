package web

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are nocbot's own collectors. They live on a registry passed in,
// never the global default one.
type Metrics struct {
	commands        *prometheus.CounterVec
	commandDuration *prometheus.HistogramVec
	publishes       *prometheus.CounterVec
	publishDuration prometheus.Histogram
	clockSkew       *prometheus.GaugeVec
}

// PublishState is what the publisher reports for gauges.
type PublishState struct {
	LastSuccess         time.Time
	PendingSince        time.Time // zero when nothing waits
	ConsecutiveFailures int
}

// NewMetrics registers the collectors; state may be nil until a publisher
// exists.
func NewMetrics(reg prometheus.Registerer, state func() PublishState) *Metrics {
	m := &Metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nocbot_commands_total", Help: "Commands handled, by command and result.",
		}, []string{"command", "result"}),
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nocbot_command_duration_seconds", Help: "Time to handle a command.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"command"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nocbot_publishes_total", Help: "Publishes of the status page, by result.",
		}, []string{"result"}),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nocbot_publish_duration_seconds", Help: "Time to render and upload the page.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		clockSkew: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nocbot_clock_skew_seconds", Help: "nocbot's clock minus a chat server's, estimated from message timestamps (positive: nocbot ahead).",
		}, []string{"network"}),
	}
	reg.MustRegister(m.commands, m.commandDuration, m.publishes, m.publishDuration, m.clockSkew)
	if state != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "nocbot_publish_last_success_timestamp_seconds", Help: "Unix time of the last successful publish (0: none yet).",
			}, func() float64 { return unix(state().LastSuccess) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "nocbot_publish_pending_seconds", Help: "Age of the oldest change not yet on the page (0: none).",
			}, func() float64 {
				if p := state().PendingSince; !p.IsZero() {
					return time.Since(p).Seconds()
				}
				return 0
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "nocbot_publish_consecutive_failures", Help: "Publishes failed in a row.",
			}, func() float64 { return float64(state().ConsecutiveFailures) }),
		)
	}
	return m
}

// ObserveCommand counts one handled command.
func (m *Metrics) ObserveCommand(command, result string, took time.Duration) {
	m.commands.WithLabelValues(command, result).Inc()
	m.commandDuration.WithLabelValues(command).Observe(took.Seconds())
}

// ObservePublish counts one publish attempt.
func (m *Metrics) ObservePublish(ok bool, took time.Duration) {
	result := "ok"
	if !ok {
		result = "error"
	}
	m.publishes.WithLabelValues(result).Inc()
	m.publishDuration.Observe(took.Seconds())
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// ObserveClockSkew sets the skew estimate for a network.
func (m *Metrics) ObserveClockSkew(network string, skew time.Duration) {
	m.clockSkew.WithLabelValues(network).Set(skew.Seconds())
}
