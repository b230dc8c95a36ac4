package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ConfigFlag is the flag (and, through EnvName, the GATEHOUSE_CONFIG
// variable) that names the YAML configuration file. Binder.Parse adds it to
// every flag set.
const ConfigFlag = "config"

// Source says where an option's effective value came from.
type Source string

// The sources, from the strongest: a flag beats the environment, which
// beats the configuration file, which beats the built-in default.
const (
	FromFlag    Source = "flag"
	FromEnv     Source = "env"
	FromFile    Source = "file"
	FromDefault Source = "default"
)

// Redacted replaces the value of a secret option in `gatehouse config print`.
const Redacted = "<redacted>"

// applyFile reads the YAML configuration file at path and sets every option
// it names that neither a flag nor the environment set. It works from the
// flag set alone, so an option is configurable in the file as soon as it is
// a flag: the keys are the flags' names. A key that is no option of this
// command is an error, unless it is a `gatehouse serve` option (one file
// serves `serve`, `migrate` and the admin commands alike, which take only
// some of them). A value of the wrong YAML type is an error naming its key.
func (b *Binder) applyFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	if doc.Kind == 0 { // empty file
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" { // only comments
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("--config %s: want a mapping of option names to values (line %d)", path, root.Line)
	}
	visited := map[string]bool{}
	b.FS.Visit(func(f *flag.Flag) { visited[f.Name] = true })
	seen := map[string]bool{}
	var known map[string]bool
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return fmt.Errorf("--config %s: line %d: keys must be option names", path, k.Line)
		}
		name := k.Value
		where := fmt.Sprintf("--config %s: line %d: %s", path, k.Line, name)
		if seen[name] {
			return fmt.Errorf("%s: given twice", where)
		}
		seen[name] = true
		if name == ConfigFlag {
			return fmt.Errorf("%s: a configuration file cannot name another one", where)
		}
		f := b.FS.Lookup(name)
		if f == nil {
			if known == nil {
				known = serveOptionNames()
			}
			if known[name] {
				continue // a serve option in a file shared with this command
			}
			return fmt.Errorf("%s: unknown option (the keys are the flags' names, without --)", where)
		}
		value, err := scalarFor(f, v)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if visited[name] || b.fromEnv[name] {
			continue // a flag or the environment wins
		}
		if err := f.Value.Set(value); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if b.fromFile == nil {
			b.fromFile = map[string]bool{}
		}
		b.fromFile[name] = true
	}
	return nil
}

// flagKind is what YAML type an option takes.
type flagKind int

const (
	kindString flagKind = iota
	kindBool
	kindDuration
	kindNumber
)

func kindOf(f *flag.Flag) flagKind {
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return kindBool
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return kindString // flag.Func and custom values: their Set decides
	}
	switch g.Get().(type) {
	case time.Duration:
		return kindDuration
	case int, int64, uint, uint64, float64:
		return kindNumber
	}
	return kindString
}

// scalarFor checks that v has the YAML type of f's option and returns the
// text to Set. Strings must be YAML strings (quote a value that YAML would
// read as a number or boolean: the file then says what it means), booleans
// YAML booleans, numbers YAML numbers, durations Go durations ("30s", or 0).
func scalarFor(f *flag.Flag, v *yaml.Node) (string, error) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind != yaml.ScalarNode {
		return "", errors.New("want a single value, not a list or mapping")
	}
	switch kindOf(f) {
	case kindBool:
		if v.Tag != "!!bool" {
			return "", fmt.Errorf("want true or false, got %q", v.Value)
		}
		return v.Value, nil
	case kindNumber:
		if v.Tag != "!!int" && v.Tag != "!!float" {
			return "", fmt.Errorf("want a number, got %q", v.Value)
		}
		return v.Value, nil
	case kindDuration:
		if v.Tag == "!!int" && v.Value == "0" {
			return "0s", nil
		}
		if v.Tag != "!!str" {
			return "", fmt.Errorf("want a duration such as 30s, 5m or 720h, got %q", v.Value)
		}
		return v.Value, nil
	}
	if v.Tag != "!!str" {
		return "", fmt.Errorf("want a string, got %s %q (quote it)", strings.TrimPrefix(v.Tag, "!!"), v.Value)
	}
	return v.Value, nil
}

// serveOptionNames is the set of `gatehouse serve`'s option names.
func serveOptionNames() map[string]bool {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var s Serve
	s.Bind(&Binder{FS: fs, Getenv: func(string) string { return "" }})
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// Secret marks the option name as a secret: `gatehouse config print` shows
// it redacted. Options whose names say they are secrets (see IsSecret) need
// no marking.
func (b *Binder) Secret(name string) {
	if b.secrets == nil {
		b.secrets = map[string]bool{}
	}
	b.secrets[name] = true
}

// secretWords are the words of an option name that make it a secret: a
// "secret", "password", "passphrase" or "private" anything, or anything
// ending in "key" (a key itself, not a key's file or ID).
var secretWords = []string{"secret", "password", "passphrase", "private", "credential"}

// IsSecret reports whether the option name holds a secret, by its name:
// --encryption-key and --cloud-aws-secret-access-key do;
// --encryption-key-file and --cloud-aws-access-key-id (a path and an
// identifier) do not.
func (b *Binder) IsSecret(name string) bool {
	if b.secrets[name] {
		return true
	}
	words := strings.Split(name, "-")
	switch words[len(words)-1] {
	case "file", "dir", "path", "id", "ttl", "enabled":
		return false
	case "key", "token":
		if !slices.Contains(words, "limit") { // --rate-limit-token is a rate
			return true
		}
	}
	for _, w := range words {
		if slices.Contains(secretWords, w) {
			return true
		}
	}
	return false
}

// dsnPassword finds the password of a key=value PostgreSQL connection
// string, or of a URL's query string.
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('[^']*'|[^&\s]+)`)

// redactValue hides the password of a URL or connection string held by
// an option that is not a secret as a whole (--database-url).
func redactValue(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			v = u.String()
		}
	}
	return dsnPassword.ReplaceAllString(v, "${1}xxxxx")
}

// SourceOf says where option name's effective value came from.
func (b *Binder) SourceOf(name string) Source {
	set := false
	b.FS.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	switch {
	case set:
		return FromFlag
	case b.fromEnv[name]:
		return FromEnv
	case b.fromFile[name]:
		return FromFile
	}
	return FromDefault
}

// Print writes the effective configuration as a YAML configuration file,
// one option a line with where its value came from, secrets redacted (a
// redacted secret that was set reads <redacted>; an unset one stays
// empty, so the output also says which secrets are configured).
func (b *Binder) Print(w io.Writer) error {
	m := &yaml.Node{Kind: yaml.MappingNode}
	b.FS.VisitAll(func(f *flag.Flag) {
		if f.Name == ConfigFlag {
			return // the output is a configuration file, which cannot name one
		}
		val := f.Value.String()
		kind := kindOf(f)
		tag := "!!str"
		switch kind {
		case kindBool:
			tag = "!!bool"
		case kindNumber:
			tag = "!!int"
			if strings.ContainsAny(val, ".eE") {
				tag = "!!float"
			}
		}
		comment := string(b.SourceOf(f.Name))
		if kind == kindString {
			if b.IsSecret(f.Name) {
				if val != "" {
					val, comment = Redacted, comment+", redacted"
				}
			} else if r := redactValue(val); r != val {
				val, comment = r, comment+", password redacted"
			}
		}
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Name},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: val, LineComment: comment})
	})
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m},
		HeadComment: "Effective configuration of " + b.FS.Name() + ".\nPrecedence: flag > env (GATEHOUSE_*) > file (--config) > default."}); err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
