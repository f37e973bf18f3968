package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"fleetpulse/shared/telemetry"
)

// pollEvery is how often the page polls the REST API while the feed is down.
const pollEvery = 5 * time.Second

// fetchJSON GETs path (with query) on base's host with the browser's fetch
// and decodes the JSON answer into v. It uses fetch, not net/http: net/http's
// client would link its Transport (HTTP/2, TLS) and grow app.wasm by about
// 5 MB. Natively, where there is no fetch, it returns an error.
func fetchJSON(ctx context.Context, base *url.URL, path string, query url.Values, v any) error {
	u := url.URL{Path: path, RawQuery: query.Encode()}
	if base != nil {
		u.Scheme, u.Host = base.Scheme, base.Host
	}
	body, err := fetchText(ctx, u.String())
	if err != nil {
		return fmt.Errorf("get %s: %w", path, err)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

type fetchResult struct {
	body string
	err  error
}

// fetchText GETs u and returns the body of a 200 answer. It returns when ctx
// ends too; the request then finishes in the background and its answer is
// dropped. The JS callbacks release themselves once the promise settles.
func fetchText(ctx context.Context, u string) (string, error) {
	fetch := app.Window().Get("fetch")
	if !fetch.Truthy() {
		return "", errors.New("fetch is not available")
	}
	done := make(chan fetchResult, 1)
	var onResp, onText, onErr app.Func
	var once sync.Once
	settle := func(r fetchResult) {
		once.Do(func() {
			done <- r
			onResp.Release()
			onText.Release()
			onErr.Release()
		})
	}
	onErr = app.FuncOf(func(this app.Value, args []app.Value) any {
		msg := "request failed"
		if len(args) > 0 && args[0].Truthy() {
			msg = args[0].Call("toString").String()
		}
		settle(fetchResult{err: errors.New(msg)})
		return nil
	})
	onText = app.FuncOf(func(this app.Value, args []app.Value) any {
		settle(fetchResult{body: args[0].String()})
		return nil
	})
	onResp = app.FuncOf(func(this app.Value, args []app.Value) any {
		resp := args[0]
		if status := resp.Get("status").Int(); status != 200 {
			settle(fetchResult{err: fmt.Errorf("status %d", status)})
			return nil
		}
		resp.Call("text").Call("then", onText, onErr)
		return nil
	})
	app.Window().Call("fetch", u).Call("then", onResp, onErr)
	select {
	case r := <-done:
		return r.body, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// pollLatest fetches what the feed would have sent: the fleet rows of
// windows starting at or after since, and the latest window's vehicles.
func pollLatest(ctx context.Context, base *url.URL, since time.Time) ([]telemetry.FleetRow, []telemetry.VehicleRow, error) {
	var fleet []telemetry.FleetRow
	if err := fetchJSON(ctx, base, "/data/fleet", url.Values{"since": {since.UTC().Format(time.RFC3339)}}, &fleet); err != nil {
		return nil, nil, err
	}
	var vehicles []telemetry.VehicleRow
	if err := fetchJSON(ctx, base, "/data", nil, &vehicles); err != nil {
		return nil, nil, err
	}
	return fleet, vehicles, nil
}

// vehicleHistory fetches one vehicle's rows of windows starting at or after
// from, oldest first.
func vehicleHistory(ctx context.Context, base *url.URL, id string, from time.Time) ([]telemetry.VehicleRow, error) {
	var rows []telemetry.VehicleRow
	q := url.Values{"vehicle_id": {id}, "from": {from.UTC().Format(time.RFC3339)}}
	if err := fetchJSON(ctx, base, "/data/history", q, &rows); err != nil {
		return nil, err
	}
	return rows, nil
}
