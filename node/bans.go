package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Bans outlive a restart: the libp2p host's bans in force (three protocol
// violations, three bad chunks) are written to DATA_DIR/bans.json when the
// node stops and applied again at start, each until it lifts. A file that
// cannot be read is ignored (and logged): bans are a defence, not data.

func bansFile(dataDir string) string { return filepath.Join(dataDir, "bans.json") }

// loadBans applies the saved bans still in force.
func (n *Node) loadBans() {
	b, err := os.ReadFile(bansFile(n.cfg.DataDir))
	if os.IsNotExist(err) {
		return
	}
	var saved map[string]int64
	if err == nil {
		err = json.Unmarshal(b, &saved)
	}
	if err != nil {
		n.log.Warn("ignoring the saved bans", "file", bansFile(n.cfg.DataDir), "err", err)
		return
	}
	now := time.Now()
	kept := 0
	for id, until := range saved {
		p, err := peer.Decode(id)
		if err != nil || !now.Before(time.Unix(until, 0)) {
			continue
		}
		n.host.Ban(p, time.Unix(until, 0))
		kept++
	}
	if kept > 0 {
		n.log.Info("bans kept from the last run", "peers", kept)
	}
}

// saveBans writes the bans in force (atomically: a temporary file renamed).
func (n *Node) saveBans() error {
	out := map[string]int64{}
	for p, until := range n.host.Bans() {
		out[p.String()] = until.Unix()
	}
	b, _ := json.Marshal(out)
	if err := writeSynced(bansFile(n.cfg.DataDir), b); err != nil {
		return fmt.Errorf("saving the bans: %w", err)
	}
	return nil
}
