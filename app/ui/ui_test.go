package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"fleetpulse/app/live"
)

// textOf returns the text inside the element with id in html, tags removed.
func textOf(t *testing.T, html, id string) string {
	t.Helper()
	re := regexp.MustCompile(`<(\w+)[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`)
	loc := re.FindStringSubmatchIndex(html)
	if loc == nil {
		t.Fatalf("no element with id %q in:\n%s", id, html)
	}
	tag := html[loc[2]:loc[3]]
	rest := html[loc[1]:]
	end := strings.Index(rest, "</"+tag+">")
	if end < 0 {
		t.Fatalf("element %q not closed", id)
	}
	inner := rest[:end]
	if strings.Count(inner, "<"+tag) > 0 { // nested same tag: take up to the matching close
		depth := 0
		for i := 0; i < len(rest); i++ {
			switch {
			case strings.HasPrefix(rest[i:], "<"+tag):
				depth++
			case strings.HasPrefix(rest[i:], "</"+tag+">"):
				if depth == 0 {
					inner = rest[:i]
					i = len(rest)
				} else {
					depth--
				}
			}
		}
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(inner, "")
	return strings.Join(strings.Fields(text), " ")
}

func TestOverviewRender(t *testing.T) {
	t.Parallel()
	t.Run("waiting", func(t *testing.T) {
		t.Parallel()
		html := app.HTMLString((&overview{}).Render())
		for _, id := range []string{idConn, idKPIVehicles, idKPIEvents, idKPIAvgSpeed, idKPIMaxSpeed, idKPIDistance,
			idKPILate, idKPIDuplicate, idKPIRejected, idChartFleet, idChartFastest,
			idKPIEventsPerSec, idChartMap, idChartSlowest, idChartHistogram, idFleetTable, idFleetFilter, idPause, idRange} {
			if !strings.Contains(html, `id="`+id+`"`) {
				t.Errorf("no element with id %q", id)
			}
		}
		if got := textOf(t, html, idKPIVehicles); got != "—" {
			t.Errorf("vehicles before data %q, want a dash", got)
		}
		if got := textOf(t, html, idConn); got != "Connecting…" {
			t.Errorf("indicator %q, want Connecting…", got)
		}
		if !strings.Contains(html, `data-seq="0"`) {
			t.Error("root has no data-seq")
		}
		if strings.Count(html, "Waiting for data") != 6 { // five charts and the table
			t.Error("empty charts show no placeholder")
		}
	})
	t.Run("live", func(t *testing.T) {
		t.Parallel()
		o := &overview{}
		o.dash.apply(live.Event{State: live.Connected})
		rows := fleetRows(0, 2)
		rows[1].Events = 12345
		rows[1].RejectedEvents = 3
		o.dash.apply(snapshotEvent(42, rows))
		html := app.HTMLString(o.Render())
		want := map[string]string{
			idConn:         "Live · connected",
			idKPIVehicles:  "50",
			idKPIEvents:    "12,345",
			idKPIAvgSpeed:  "48.2 km/h",
			idKPIMaxSpeed:  "97.5 km/h",
			idKPIDistance:  "6.12 km",
			idKPILate:      "1",
			idKPIDuplicate: "0",
			idKPIRejected:  "3",
			idWindow:       "Latest window 04:40:10–04:40:20 UTC seq 42",
		}
		for id, w := range want {
			if got := textOf(t, html, id); got != w {
				t.Errorf("#%s text %q, want %q", id, got, w)
			}
		}
		if !strings.Contains(html, `data-seq="42"`) {
			t.Error("root data-seq is not 42")
		}
		if strings.Contains(html, "Waiting for data") {
			t.Error("placeholder shown over charts with data")
		}
	})
}

// TestOverviewMountsNatively checks that the component mounts in go-app's
// test engine outside a browser, where OnMount does not run and no feed
// starts.
func TestOverviewMountsNatively(t *testing.T) {
	t.Parallel()
	e := app.NewTestEngine()
	o := &overview{}
	if err := e.Load(o); err != nil {
		t.Fatal(err)
	}
	e.ConsumeAll()
	if o.stop != nil {
		t.Fatal("a feed started outside the browser")
	}
}

func TestHandler(t *testing.T) {
	Routes()
	srv := httptest.NewServer(Handler("v-test-1"))
	defer srv.Close()
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, res.Status)
		}
		return string(b)
	}

	page := get("/")
	for _, want := range []string{
		"<title>FleetPulse",
		`src="/web/echarts/echarts.min.js"`,
		`href="/web/app.css"`,
		`rel="manifest"`,
		`id="conn"`,
		`id="chart-fleet-speed"`,
		`href="/web/app.wasm"`, // the preload
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if !regexp.MustCompile(`<script[^>]*echarts\.min\.js[^>]*\bdefer|<script[^>]*\bdefer[^>]*echarts\.min\.js`).MatchString(page) {
		t.Error("echarts is not loaded with defer")
	}
	if !regexp.MustCompile(`<link[^>]*app\.wasm[^>]*crossorigin="anonymous"|<link[^>]*crossorigin="anonymous"[^>]*app\.wasm`).MatchString(page) {
		t.Error("the app.wasm preload is not CORS-anonymous, so go-app's fetch cannot reuse it")
	}
	for _, host := range []string{"githubusercontent", "cdn.", "go-echarts.github.io"} {
		if strings.Contains(page, host) {
			t.Errorf("page refers to an outside host: %s", host)
		}
	}

	appJS := get("/app.js")
	if !strings.Contains(appJS, `"FLEETPULSE_WS_PATH":"/ws"`) || !strings.Contains(appJS, `"GOAPP_VERSION":"v-test-1"`) {
		t.Errorf("app.js env lacks the ws path or the version")
	}

	var manifest struct {
		Name  string `json:"name"`
		Icons []struct {
			Src  string `json:"src"`
			Type string `json:"type"`
		} `json:"icons"`
	}
	if err := json.Unmarshal([]byte(get("/manifest.webmanifest")), &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Name != "FleetPulse" || len(manifest.Icons) == 0 {
		t.Fatalf("manifest %+v", manifest)
	}
	for _, ic := range manifest.Icons {
		if !strings.HasPrefix(ic.Src, "/web/") {
			t.Errorf("icon %s is not local", ic.Src)
			continue
		}
		// The icons ship in the repository's web/ folder.
		if _, err := os.Stat(filepath.Join("..", "..", ic.Src)); err != nil {
			t.Errorf("icon %s: %v", ic.Src, err)
		}
		if ext := filepath.Ext(ic.Src); (ext == ".png") != (ic.Type == "image/png") {
			t.Errorf("icon %s declared as %s", ic.Src, ic.Type)
		}
	}
	if _, err := os.Stat(filepath.Join("..", "..", "web", "app.css")); err != nil {
		t.Errorf("web/app.css: %v", err)
	}
}
