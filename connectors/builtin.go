// Package connectors lists the connectors compiled into the Switchboard
// binary. Each lives in its own sub-package and implements
// plugins.Connector; the hub runs each one out of process by re-executing
// itself (`switchboard connector <id>`), so a crash in a connector never takes
// the hub down.
package connectors

import (
	"github.com/switchboardhq/switchboard/connectors/deskera"
	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/connectors/vplan"
	"github.com/switchboardhq/switchboard/plugins"
)

// Builtin returns a constructor per built-in connector id. The binary's
// `connector <id>` subcommand serves one with plugins.Serve(Builtin()[id]());
// the hub launches one process per id (host.SelfCommands).
func Builtin() map[string]func() plugins.Connector {
	return map[string]func() plugins.Connector{
		deskera.ID: func() plugins.Connector { return deskera.New() },
		dversum.ID: func() plugins.Connector { return dversum.New() },
		vplan.ID:   func() plugins.Connector { return vplan.New() },
	}
}
