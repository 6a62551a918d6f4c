// snapd's seed loader over a seed snapsmith built: seed.Open, LoadAssertions into a database
// rooted at the given trusted assertions, LoadMeta for all modes; prints what it found.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/snapcore/snapd/asserts"
	"github.com/snapcore/snapd/seed"
	"github.com/snapcore/snapd/snap"
	"github.com/snapcore/snapd/timings"
)

type seedSnap struct {
	Name          string `json:"name"`
	File          string `json:"file"`
	ID            string `json:"id,omitempty"`
	Revision      string `json:"revision"`
	EssentialType string `json:"essential-type,omitempty"`
	Required      bool   `json:"required"`
}

func seedSnaps(snaps []*seed.Snap) []seedSnap {
	out := []seedSnap{}
	for _, s := range snaps {
		out = append(out, seedSnap{
			Name:          s.SnapName(),
			File:          filepath.Base(s.Path),
			ID:            s.ID(),
			Revision:      s.SideInfo.Revision.String(),
			EssentialType: string(s.EssentialType),
			Required:      s.Required,
		})
	}
	return out
}

// seedCheck loads the system LABEL of the seed in DIR; trusted is the root of trust.
func seedCheck(args []string) {
	trusted, rest := splitTrusted(args)
	if len(rest) != 2 {
		fail("usage: snapd-check seed DIR LABEL --trusted FILE...")
	}
	db, err := asserts.OpenDatabase(&asserts.DatabaseConfig{
		Backstore: asserts.NewMemoryBackstore(),
		Trusted:   trusted,
	})
	if err != nil {
		fail("opening the database: %v", err)
	}
	// snapd's daemon installs its interface sanitizer here; interfaces are not what this
	// check is about (and the builtin interfaces package drags in the whole daemon).
	snap.SanitizePlugsSlots = func(*snap.Info) {}
	sd, err := seed.Open(rest[0], rest[1])
	if err != nil {
		fail("seed.Open: %v", err)
	}
	commit := func(b *asserts.Batch) error { return b.CommitTo(db, nil) }
	if err := sd.LoadAssertions(db, commit); err != nil {
		fail("LoadAssertions: %v", err)
	}
	if err := sd.LoadMeta(seed.AllModes, nil, timings.New(nil)); err != nil {
		fail("LoadMeta: %v", err)
	}
	run, err := sd.ModeSnaps("run")
	if err != nil {
		fail("ModeSnaps: %v", err)
	}
	model := sd.Model()
	out, _ := json.MarshalIndent(map[string]interface{}{
		"model":     fmt.Sprintf("%s/%s", model.BrandID(), model.Model()),
		"grade":     string(model.Grade()),
		"snapd":     sd.UsesSnapdSnap(),
		"essential": seedSnaps(sd.EssentialSnaps()),
		"run":       seedSnaps(run),
	}, "", "  ")
	os.Stdout.Write(append(out, '\n'))
}
