package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// jsFocused describes the focused element and whether its focus shows: an
// outline or a box shadow drawn for :focus-visible.
const jsFocused = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return 'body';
  const st = getComputedStyle(e);
  const shown = (st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0) || st.boxShadow !== 'none';
  const name = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.dataset.col ? '[' + e.dataset.col + ']' : '') + (e.dataset.minutes ? '[' + e.dataset.minutes + ']' : '') + (e.tagName === 'A' ? '[' + e.getAttribute('href') + ']' : '');
  return (shown ? '' : 'UNSEEN ') + name;
})()`

// tabTo presses Tab until the focused element's description contains want,
// failing after max presses or on a focused element without a visible focus.
// It returns the descriptions passed on the way.
func tabTo(t *testing.T, ctx context.Context, want string, max int) []string {
	t.Helper()
	var seen []string
	for range max {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		d, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsFocused))
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, d)
		if strings.HasPrefix(d, "UNSEEN ") {
			t.Errorf("focus on %s is not visible", strings.TrimPrefix(d, "UNSEEN "))
		}
		if strings.Contains(d, want) {
			return seen
		}
	}
	t.Fatalf("%s not reached in %d Tab presses; focus went %v", want, max, seen)
	return nil
}

// TestKeyboardInBrowser: the dashboard works from the keyboard alone, with
// a visible focus: Tab reaches the controls in reading order, Enter sorts
// the fleet table and opens a vehicle from its row, and the vehicle view
// leads back.
func TestKeyboardInBrowser(t *testing.T) {
	ctx := newBrowser(t, 1280, 900)
	s := startServer(t, "-vehicles", "12", "-rate", "5")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url)); err != nil {
		t.Fatal(err)
	}
	poll[int](t, ctx, "the fleet table", `document.querySelectorAll('#fleet-table tbody a').length`)

	path := tabTo(t, ctx, "[avg_speed_kmh]", 40)
	order := strings.Join(path, " ")
	for _, w := range []string{"button#pause", "button[5]", "button[60]", "input#fleet-filter", "button[vehicle_id]", "button[avg_speed_kmh]"} {
		j := strings.Index(order, w)
		if j < 0 {
			t.Fatalf("Tab skipped %s: %v", w, path)
		}
		order = order[j:]
	}
	sortState := `document.querySelector('#fleet-table button[data-col="avg_speed_kmh"]').closest('th').getAttribute('aria-sort')`
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "Enter to sort descending", sortState+` === 'descending'`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "Enter again to sort ascending", sortState+` === 'ascending'`)
	// The rows are in that order.
	if ok := poll[string](t, ctx, "rows by speed", `(() => { const v = [...document.querySelectorAll('#fleet-table tbody tr td:nth-child(3)')].map(td => Number(td.textContent)); return String(v.length > 1 && v.every((x, i) => i === 0 || v[i-1] <= x)); })()`); ok != "true" {
		t.Error("rows are not sorted by average speed after Enter")
	}

	path = tabTo(t, ctx, "a[/vehicle/", 10)
	link := strings.TrimPrefix(path[len(path)-1], "a[")
	link = strings.TrimSuffix(link, "]")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "Enter on the row's link to open the vehicle view", `location.pathname === '`+link+`' && !!document.getElementById('vehicle-speed')`)

	tabTo(t, ctx, "a[/]", 10)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "the overview again", `location.pathname === '/' && !!document.getElementById('fleet-table')`)
}
