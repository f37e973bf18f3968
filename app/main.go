// Command app is FleetPulse's browser client, built to web/app.wasm:
//
//	GOOS=js GOARCH=wasm go build -o web/app.wasm ./app
//
// It registers the same routes as the server and starts go-app. It links no
// server code, which keeps app.wasm about half the size of a shared main.
package main

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"fleetpulse/app/ui"
)

func main() {
	ui.Routes()
	app.RunWhenOnBrowser()
}
