//go:build !(js && wasm)

package live

// decodeMessage is Decode outside the browser.
func decodeMessage(data []byte) (Event, error) { return Decode(data) }
