package main

// gadget-layout: snapd's reading and partial layout of a gadget.yaml, for comparison with
// `snapsmith gadget layout --json`.

import (
	"encoding/json"
	"os"
	"sort"

	"github.com/snapcore/snapd/gadget"
	"github.com/snapcore/snapd/gadget/quantity"
)

type laidOutStructure struct {
	Index       int     `json:"index"`
	Name        string  `json:"name"`
	Role        string  `json:"role"`
	Offset      uint64  `json:"offset"`
	Size        uint64  `json:"size"`
	OffsetWrite *uint64 `json:"offset-write"`
}

type laidOutVolume struct {
	Name       string             `json:"name"`
	Schema     string             `json:"schema"`
	Size       uint64             `json:"size"`
	Structures []laidOutStructure `json:"structures"`
}

type layoutResult struct {
	Error   string          `json:"error,omitempty"`
	Volumes []laidOutVolume `json:"volumes,omitempty"`
}

// gadgetLayout prints, as JSON, either {"error": …} (what snapd refuses: gadget.InfoFromGadgetYaml,
// gadget.Validate without a model, gadget.LayoutVolumePartially) or every volume (by name) with
// its structures sorted by offset and its size as gadget.LayoutVolume computes it (the end of
// the farthest structure, or of the farthest offset-write's 4 bytes).
func gadgetLayout(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	res := layout(data)
	out, _ := json.MarshalIndent(res, "", "  ")
	os.Stdout.Write(append(out, '\n'))
}

func layout(data []byte) layoutResult {
	info, err := gadget.InfoFromGadgetYaml(data, nil)
	if err != nil {
		return layoutResult{Error: err.Error()}
	}
	if err := gadget.Validate(info, nil, nil); err != nil {
		return layoutResult{Error: err.Error()}
	}
	var names []string
	for name := range info.Volumes {
		names = append(names, name)
	}
	sort.Strings(names)
	var res layoutResult
	for _, name := range names {
		vol := info.Volumes[name]
		constraints := gadget.LayoutConstraints{NonMBRStartOffset: 1 * quantity.OffsetMiB, SkipResolveContent: true}
		lv, err := gadget.LayoutVolumePartially(vol, constraints)
		if err != nil {
			return layoutResult{Error: err.Error()}
		}
		out := laidOutVolume{Name: name, Schema: vol.Schema}
		for _, s := range lv.LaidOutStructure {
			ls := laidOutStructure{Index: s.YamlIndex, Name: s.Name, Role: s.Role,
				Offset: uint64(s.StartOffset), Size: uint64(s.Size)}
			if s.AbsoluteOffsetWrite != nil {
				w := uint64(*s.AbsoluteOffsetWrite)
				ls.OffsetWrite = &w
			}
			if end := ls.Offset + ls.Size; end > out.Size {
				out.Size = end
			}
			if ls.OffsetWrite != nil && *ls.OffsetWrite+uint64(gadget.SizeLBA48Pointer) > out.Size {
				out.Size = *ls.OffsetWrite + uint64(gadget.SizeLBA48Pointer)
			}
			out.Structures = append(out.Structures, ls)
		}
		res.Volumes = append(res.Volumes, out)
	}
	return res
}
