package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"fleetpulse/server/sim"
	"fleetpulse/server/stream"
)

// config is every setting of the server, filled from flags with the
// environment (FLEETPULSE_<NAME>) as fallback; flags win.
type config struct {
	addr        string
	storage     string
	window      time.Duration
	slide       time.Duration
	lateness    time.Duration
	idleTimeout time.Duration
	tripGap     time.Duration
	maxVehicles int
	vehicles    int
	rate        float64
	seed        uint64
	origins     []string
	retention   time.Duration
	csvBOM      bool
	ingestToken string
	tokenFile   string
	maxFuture   time.Duration
	maxAge      time.Duration
	maxBody     byteSize
	simFaults   sim.Faults
	historyMax  byteSize
	liveEvery   time.Duration
	wal         string
	limits      limits

	// Scale-out over Kafka (see cluster.go).
	kafka       []string
	kafkaPrefix string
	group       string
	roles       roles
	exactlyOnce bool
}

// limits are the caps on what strangers control: rates, counts, sizes and
// times of HTTP clients (see SECURITY.md).
type limits struct {
	ingestRate        float64 // events per second per ingest token; 0: none
	ingestRequests    float64 // requests per second per ingest token; 0: none
	ingestOrigins     []string
	maxSubscribers    int
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	httpIdleTimeout   time.Duration
	maxHeaderBytes    byteSize
	logFormat         string
	accessLog         bool
}

// byteSize is a size in bytes given as 1048576, 512KiB or 8MiB.
type byteSize int64

func (b *byteSize) String() string {
	switch n := int64(*b); {
	case n > 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n > 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(n, 10)
	}
}

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	num := s
	switch {
	case strings.HasSuffix(s, "MiB"):
		mult, num = 1<<20, strings.TrimSuffix(s, "MiB")
	case strings.HasSuffix(s, "KiB"):
		mult, num = 1<<10, strings.TrimSuffix(s, "KiB")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return errors.New("want a positive size in bytes, KiB or MiB, such as 8MiB")
	}
	*b = byteSize(n * mult)
	return nil
}

// parseConfig parses args, falling back to getenv for each flag not given.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("fleetpulse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var origins string
	fs.StringVar(&c.addr, "addr", ":8080", "listen `address`")
	fs.StringVar(&c.storage, "storage", "storage", "output root `dir`: csv/ and history/ live below it")
	fs.DurationVar(&c.window, "window", 10*time.Second, "window length, whole seconds")
	fs.DurationVar(&c.slide, "slide", 0, "window slide, whole seconds dividing -window (default: = window, tumbling)")
	fs.DurationVar(&c.lateness, "lateness", 5*time.Second, "allowed lateness: how far the watermark trails the newest event")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 0, "with no event accepted for this long, the watermark follows the clock (default: 2 × window)")
	fs.DurationVar(&c.tripGap, "trip-gap", 5*time.Minute, "two events of one vehicle further apart than this add no distance")
	fs.IntVar(&c.maxVehicles, "max-vehicles", 100_000, "most vehicles tracked at once; events of more are rejected")
	fs.IntVar(&c.vehicles, "vehicles", 50, "simulated fleet size; 0 turns the simulator off")
	fs.Float64Var(&c.rate, "rate", 1, "simulated events per vehicle per second")
	fs.Uint64Var(&c.seed, "seed", 1, "simulator seed: the same seed gives the same fleet and routes")
	fs.Var(&c.simFaults, "sim-faults", "faults the simulator injects, as shares of events, e.g. late=0.01,duplicate=0.02,out_of_order=0.05,malformed=0.01,offline=0.02")
	fs.DurationVar(&c.liveEvery, "live-interval", 0, "send /ws subscribers a provisional update of the open window this often (0: never; at least 100ms)")
	fs.StringVar(&origins, "origins", "", "extra allowed WebSocket Origin `hosts`, comma-separated (patterns like *.example.com)")
	fs.DurationVar(&c.retention, "retention", 168*time.Hour, "how long per-window history and fleet rows are kept")
	fs.Var(&c.historyMax, "history-max-bytes", "cap on the history/ folder: bytes, KiB or MiB; the oldest windows go first (default: no cap but -retention)")
	fs.BoolVar(&c.csvBOM, "csv-bom", false, "start CSV files with a UTF-8 byte order mark (helps Excel and Power Query)")
	fs.StringVar(&c.ingestToken, "ingest-token", "", "bearer `token` that enables /ingest; prefer the environment variable FLEETPULSE_INGEST_TOKEN")
	fs.StringVar(&c.tokenFile, "ingest-token-file", "", "`file` of ingest tokens, one per line, re-read when it changes (for rotation)")
	fs.DurationVar(&c.maxFuture, "max-future", time.Minute, "events stamped further ahead of the server clock are rejected")
	fs.DurationVar(&c.maxAge, "max-age", 24*time.Hour, "events older than this are rejected")
	fs.StringVar(&c.wal, "wal", "", "write-ahead log `dir`: a 2xx from /ingest then means the events are fsynced; replayed at start")
	c.maxBody = 8 << 20
	fs.Var(&c.maxBody, "max-body", "largest /ingest body or WebSocket message: bytes, KiB or MiB")
	var ingestOrigins string
	addLimitFlags(fs, &c.limits, &ingestOrigins)

	// Scale-out over Kafka.
	var kafka string
	fs.StringVar(&kafka, "kafka", "", "Kafka `brokers`, comma-separated host:port; empty runs everything in one process with no broker")
	fs.StringVar(&c.kafkaPrefix, "kafka-prefix", "fleetpulse", "topic `prefix`: <prefix>.events and <prefix>.windows")
	fs.StringVar(&c.group, "group", "fleetpulse", "consumer `group` of the processor instances")
	c.roles = allRoles
	fs.Var(&c.roles, "roles", "which parts this instance runs: any of ingest,process,serve (with -kafka)")
	fs.BoolVar(&c.exactlyOnce, "exactly-once", false, "write windows and checkpoints in Kafka transactions instead of at-least-once with idempotent sinks")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		name := "FLEETPULSE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", name, v, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if c.slide == 0 {
		c.slide = c.window
	}
	if c.idleTimeout == 0 {
		c.idleTimeout = 2 * c.window
	}
	c.kafka = splitList(kafka)
	if len(c.kafka) > 0 && c.wal != "" {
		return c, errors.New("-wal and -kafka: with -kafka the events topic is the durable log; drop -wal")
	}
	if len(c.kafka) > 0 && !c.roles.ingest {
		// The simulator is a producer: it runs where ingest does.
		c.vehicles = 0
	}
	c.origins = splitList(origins)
	c.limits.ingestOrigins = splitList(ingestOrigins)
	if err := c.validate(); err != nil {
		return c, err
	}
	return c, c.limits.validate()
}

func (c config) streamConfig() stream.Config {
	return stream.Config{Window: c.window, Slide: c.slide, Lateness: c.lateness, TripGap: c.tripGap, MaxVehicles: c.maxVehicles}
}

func (c config) validate() error {
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return fmt.Errorf("-addr %q: want host:port, such as :8080", c.addr)
	}
	if err := c.streamConfig().Validate(); err != nil {
		return fmt.Errorf("-window/-slide/-lateness: %w", err)
	}
	switch {
	case c.storage == "":
		return errors.New("-storage must not be empty")
	case c.idleTimeout < 0:
		return errors.New("-idle-timeout must not be negative")
	case c.tripGap <= 0:
		return errors.New("-trip-gap must be positive")
	case c.maxVehicles <= 0:
		return errors.New("-max-vehicles must be positive")
	case c.vehicles < 0 || c.vehicles > 1_000_000:
		return errors.New("-vehicles must be between 0 and 1000000")
	case c.vehicles > c.maxVehicles:
		return fmt.Errorf("-vehicles %d exceeds -max-vehicles %d", c.vehicles, c.maxVehicles)
	case !(c.rate > 0 && c.rate <= 1000): // NaN fails too
		return errors.New("-rate must be in (0, 1000]")
	case c.retention < c.window:
		return errors.New("-retention must be at least one window")
	case c.liveEvery != 0 && c.liveEvery < 100*time.Millisecond:
		return errors.New("-live-interval must be 0 (off) or at least 100ms")
	case c.maxFuture <= 0 || c.maxAge <= 0:
		return errors.New("-max-future and -max-age must be positive")
	case len(c.kafka) == 0 && c.roles != allRoles:
		return errors.New("-roles needs -kafka: without a broker one process runs every part")
	case len(c.kafka) == 0 && c.exactlyOnce:
		return errors.New("-exactly-once needs -kafka")
	case len(c.kafka) > 0 && c.roles == roles{}:
		return errors.New("-roles must name at least one of ingest, process, serve")
	case len(c.kafka) > 0 && (c.kafkaPrefix == "" || c.group == ""):
		return errors.New("-kafka-prefix and -group must not be empty")
	}
	for _, b := range c.kafka {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("-kafka %q: want host:port, comma-separated", b)
		}
	}
	return nil
}

// roles are the parts of a scaled-out instance.
type roles struct{ ingest, process, serve bool }

var allRoles = roles{true, true, true}

func (r *roles) String() string {
	var names []string
	for _, x := range []struct {
		on   bool
		name string
	}{{r.ingest, "ingest"}, {r.process, "process"}, {r.serve, "serve"}} {
		if x.on {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, ",")
}

func (r *roles) Set(s string) error {
	*r = roles{}
	for name := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(name) {
		case "ingest":
			r.ingest = true
		case "process":
			r.process = true
		case "serve":
			r.serve = true
		case "":
		default:
			return fmt.Errorf("unknown role %q: want any of ingest, process, serve", name)
		}
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var list []string
	for o := range strings.SplitSeq(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			list = append(list, o)
		}
	}
	return list
}
