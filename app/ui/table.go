package ui

import (
	"cmp"
	"slices"
	"strings"

	"fleetpulse/shared/telemetry"
)

// pageSize is how many rows the fleet table shows at once: rendering only a
// page keeps a 10,000-vehicle fleet as fast as a small one.
const pageSize = 50

// column is a sortable column of the fleet table.
type column string

const (
	colVehicle  column = "vehicle_id"
	colEvents   column = "events"
	colAvgSpeed column = "avg_speed_kmh"
	colMaxSpeed column = "max_speed_kmh"
	colDistance column = "distance_km"
	colLastTS   column = "last_ts"
)

// tableQuery is what the user chose in the fleet table: the filter, the sort
// and the page. The zero value lists every vehicle by id, first page.
type tableQuery struct {
	// filter keeps the vehicles whose id contains it, ignoring case.
	filter string
	sortBy column
	desc   bool
	// page counts from 0.
	page int
}

// toggle sorts by c, or flips the direction when it already sorts by c. A new
// numeric column starts descending (the biggest first), the id ascending. It
// goes back to the first page.
func (q tableQuery) toggle(c column) tableQuery {
	if q.sortBy == c || (q.sortBy == "" && c == colVehicle) {
		q.sortBy, q.desc = c, !q.desc
	} else {
		q.sortBy, q.desc = c, c != colVehicle
	}
	q.page = 0
	return q
}

// tablePage is one page of the fleet table.
type tablePage struct {
	rows []telemetry.VehicleRow
	// matched is how many rows pass the filter; page and pages are the
	// shown page (from 0) and the page count (at least 1).
	matched, page, pages int
}

// query filters, sorts and pages rows. rows is not modified; ties sort by
// vehicle id so that the order is stable across windows. A page past the
// end shows the last one.
func query(rows []telemetry.VehicleRow, q tableQuery) tablePage {
	f := strings.ToLower(strings.TrimSpace(q.filter))
	kept := make([]telemetry.VehicleRow, 0, len(rows))
	for i := range rows {
		if f == "" || strings.Contains(strings.ToLower(rows[i].VehicleID), f) {
			kept = append(kept, rows[i])
		}
	}
	by := q.sortBy
	if by == "" {
		by = colVehicle
	}
	slices.SortFunc(kept, func(a, b telemetry.VehicleRow) int {
		c := compareBy(a, b, by)
		if q.desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.VehicleID, b.VehicleID)
		}
		return c
	})
	pages := max(1, (len(kept)+pageSize-1)/pageSize)
	page := min(max(q.page, 0), pages-1)
	lo := page * pageSize
	hi := min(lo+pageSize, len(kept))
	return tablePage{rows: kept[lo:hi], matched: len(kept), page: page, pages: pages}
}

func compareBy(a, b telemetry.VehicleRow, c column) int {
	switch c {
	case colEvents:
		return cmp.Compare(a.Events, b.Events)
	case colAvgSpeed:
		return cmp.Compare(a.AvgSpeedKPH, b.AvgSpeedKPH)
	case colMaxSpeed:
		return cmp.Compare(a.MaxSpeedKPH, b.MaxSpeedKPH)
	case colDistance:
		return cmp.Compare(a.DistanceKM, b.DistanceKM)
	case colLastTS:
		return a.LastTS.Compare(b.LastTS)
	default:
		return cmp.Compare(a.VehicleID, b.VehicleID)
	}
}
