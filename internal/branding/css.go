package branding

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Stylesheet is branding b's stylesheet: the pages' colour tokens (see
// internal/webui/pages.css) set from b's colours, light and dark, and
// nothing else. Every value is computed here from #rrggbb colours, so no
// text an organization wrote reaches it. Text colours on a brand colour
// are chosen for contrast (WCAG 2 relative luminance), whatever the colour.
func Stylesheet(b *store.Branding) []byte {
	var s strings.Builder
	s.WriteString("/* Gatehouse: organization branding (generated from its colours) */\n")
	if p, ok := parse(b.PrimaryColor); ok {
		dark := rgb{11, 11, 14}
		// Light: the colour itself on white, deepened until text in it
		// reads on white (links, the "soft" accent's text).
		text := p
		for i := 0; i < 20 && contrast(text, white) < 4.5; i++ {
			text = mix(text, rgb{0, 0, 0}, 0.12)
		}
		fmt.Fprintf(&s, ":root {\n  --accent: %s; --accent-hover: %s; --accent-soft: %s; --accent-text: %s; --on-accent: %s; --focus-ring: %s;\n}\n",
			p, mix(p, rgb{0, 0, 0}, 0.12), mix(p, white, 0.9), text, onColor(p), p)
		// Dark: the colour lightened until it reads on the dark surface.
		dp := p
		for i := 0; i < 20 && contrast(dp, dark) < 4.5; i++ {
			dp = mix(dp, white, 0.12)
		}
		fmt.Fprintf(&s, "@media (prefers-color-scheme: dark) {\n  :root { --accent: %s; --accent-hover: %s; --accent-soft: %s; --accent-text: %s; --on-accent: %s; --focus-ring: %s; }\n}\n",
			dp, mix(dp, white, 0.15), mix(dp, dark, 0.8), dp, onColor(dp), dp)
	}
	if bg, ok := parse(b.BackgroundColor); ok {
		// The backdrop around the card, in the light scheme only (a light
		// brand backdrop would glare in the dark one). The name above the
		// card is on it: black or white, whichever reads.
		fmt.Fprintf(&s, "@media (prefers-color-scheme: light) {\n  body { background: %s; }\n  .brand, footer, footer a { color: %s; }\n}\n", bg, onColor(bg))
	}
	return []byte(s.String())
}

type rgb struct{ r, g, b float64 }

var white = rgb{255, 255, 255}

func (c rgb) String() string {
	return fmt.Sprintf("#%02x%02x%02x", int(math.Round(c.r)), int(math.Round(c.g)), int(math.Round(c.b)))
}

// parse reads #rrggbb (Validate has checked the form).
func parse(s string) (rgb, bool) {
	if len(s) != 7 || s[0] != '#' {
		return rgb{}, false
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return rgb{}, false
	}
	return rgb{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}, true
}

// mix is a + (b - a) × t.
func mix(a, b rgb, t float64) rgb {
	return rgb{a.r + (b.r-a.r)*t, a.g + (b.g-a.g)*t, a.b + (b.b-a.b)*t}
}

// luminance is WCAG 2's relative luminance.
func luminance(c rgb) float64 {
	ch := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.r) + 0.7152*ch(c.g) + 0.0722*ch(c.b)
}

// contrast is WCAG 2's contrast ratio of a and b.
func contrast(a, b rgb) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// onColor is the text colour on c: white or near-black, whichever has more
// contrast.
func onColor(c rgb) string {
	ink := rgb{11, 11, 14}
	if contrast(c, white) >= contrast(c, ink) {
		return "#ffffff"
	}
	return ink.String()
}
