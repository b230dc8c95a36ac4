package branding

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// pngOf is a w×h PNG filled with c.
func pngOf(t testing.TB, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	logo := pngOf(t, 64, 32, color.RGBA{200, 30, 30, 255})
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 20, 20)), nil); err != nil {
		t.Fatal(err)
	}
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	huge := pngOf(t, MaxLogoPixels+1, 1, color.Black)
	truncated := logo[:len(logo)-20]
	big := append(append([]byte{}, logo...), make([]byte, MaxLogoBytes)...)

	ok := []struct {
		name string
		in   Input
		want store.Branding
	}{
		{"nothing: the platform's look", Input{}, store.Branding{}},
		{"name trimmed, colours lower-cased", Input{DisplayName: "  Acme Corp ", PrimaryColor: "#FF6600", BackgroundColor: "#0a0B0c"},
			store.Branding{DisplayName: "Acme Corp", PrimaryColor: "#ff6600", BackgroundColor: "#0a0b0c"}},
		{"PNG logo", Input{Logo: logo}, store.Branding{Logo: logo, LogoType: "image/png"}},
		{"JPEG logo", Input{Logo: jpg.Bytes()}, store.Branding{Logo: jpg.Bytes(), LogoType: "image/jpeg"}},
		{"a name of 64 characters", Input{DisplayName: strings.Repeat("ü", 64)}, store.Branding{DisplayName: strings.Repeat("ü", 64)}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := Validate("org1", c.in, now)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if b.OrganizationID != "org1" || b.DisplayName != c.want.DisplayName || b.PrimaryColor != c.want.PrimaryColor ||
				b.BackgroundColor != c.want.BackgroundColor || !bytes.Equal(b.Logo, c.want.Logo) || b.LogoType != c.want.LogoType || !b.UpdatedAt.Equal(now) {
				t.Fatalf("got %+v, want %+v", b, c.want)
			}
			if len(b.Version) != 16 {
				t.Fatalf("version %q", b.Version)
			}
		})
	}

	refused := []struct {
		name string
		in   Input
		msg  string
	}{
		{"colour by name", Input{PrimaryColor: "red"}, "primaryColor"},
		{"short hex", Input{PrimaryColor: "#f60"}, "primaryColor"},
		{"CSS injection in a colour", Input{BackgroundColor: "#fff;}body{display:none"}, "backgroundColor"},
		{"hex without #", Input{BackgroundColor: "ff6600"}, "backgroundColor"},
		{"name too long", Input{DisplayName: strings.Repeat("a", 65)}, "displayName"},
		{"bidirectional override in the name", Input{DisplayName: "Acme\u202eproC"}, "displayName"},
		{"newline in the name", Input{DisplayName: "Acme\nCorp"}, "displayName"},
		{"SVG logo (it could carry script)", Input{Logo: svg}, "not a PNG or JPEG"},
		{"logo too wide", Input{Logo: huge}, "pixels"},
		{"logo truncated", Input{Logo: truncated}, "logo"},
		{"logo too large", Input{Logo: big}, "KiB"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := Validate("org1", c.in, now)
			e, ok := apierror.As(err)
			if !ok || e.Status != 400 || !strings.Contains(e.Description, c.msg) {
				t.Fatalf("got %+v, %v; want a 400 naming %q", b, err, c.msg)
			}
		})
	}
}

// TestStylesheet: the generated stylesheet holds only values computed from
// the colours, with readable text on the brand colour, light and dark, and
// its version changes with what the pages load.
func TestStylesheet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		primary, bg     string
		want, notWanted []string
	}{
		{"nothing", "", "", nil, []string{"--accent", "body"}},
		{"a light primary gets dark text", "#ffd400", "", []string{"--accent: #ffd400", "--on-accent: #0b0b0e"}, []string{"body {"}},
		{"a dark primary gets white text", "#1d4ed8", "", []string{"--accent: #1d4ed8", "--on-accent: #ffffff", "prefers-color-scheme: dark"}, nil},
		{"a dark backdrop gets a white name", "", "#101820", []string{"body { background: #101820; }", ".brand, footer, footer a { color: #ffffff; }"}, []string{"--accent"}},
		{"a light backdrop gets a dark name", "", "#fef3c7", []string{".brand, footer, footer a { color: #0b0b0e; }"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			css := string(Stylesheet(&store.Branding{PrimaryColor: c.primary, BackgroundColor: c.bg}))
			for _, w := range c.want {
				if !strings.Contains(css, w) {
					t.Errorf("stylesheet lacks %q:\n%s", w, css)
				}
			}
			for _, w := range c.notWanted {
				if strings.Contains(css, w) {
					t.Errorf("stylesheet has %q:\n%s", w, css)
				}
			}
			if strings.ContainsAny(css, "<>\\\"'") || strings.Contains(css, "url(") || strings.Contains(css, "@import") {
				t.Errorf("stylesheet has more than values:\n%s", css)
			}
		})
	}
	// Link text stays readable on white whatever the colour (WCAG AA).
	for _, c := range []string{"#ffff00", "#00ff00", "#777777", "#ff6600"} {
		b := &store.Branding{PrimaryColor: c}
		css := string(Stylesheet(b))
		i := strings.Index(css, "--accent-text: ")
		text, _ := parse(css[i+len("--accent-text: ") : i+len("--accent-text: ")+7])
		if r := contrast(text, white); r < 4.5 {
			t.Errorf("%s: link text %v has contrast %.2f on white", c, text, r)
		}
	}
	now := time.Now()
	a, _ := Validate("o", Input{PrimaryColor: "#112233"}, now)
	b, _ := Validate("o", Input{PrimaryColor: "#112234"}, now)
	l, _ := Validate("o", Input{PrimaryColor: "#112233", Logo: pngOf(t, 2, 2, color.White)}, now)
	if a.Version == b.Version || a.Version == l.Version {
		t.Fatalf("versions do not follow the content: %s %s %s", a.Version, b.Version, l.Version)
	}
	if got := LogoPath(l); got != "/branding/o/"+l.Version+"-logo" || LogoPath(a) != "" {
		t.Fatalf("logo paths %q %q", got, LogoPath(a))
	}
	if !strings.HasSuffix(StylesheetPath(a), "/"+a.Version+".css") {
		t.Fatal(StylesheetPath(a))
	}
}
