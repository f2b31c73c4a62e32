//go:build !linux

package host

import "os/exec"

// setDeathSignal has no kernel support outside Linux; there the plugin's own
// parent watch (plugins.Serve) ends it when the hub dies.
func setDeathSignal(*exec.Cmd) {}
