package mfa

import (
	"fmt"
	"image/color"
	"io"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238's defaults, the only ones every authenticator
// app honours (several ignore digits, period and algorithm in the URI).
const (
	// Period is the length of a time step.
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
	// Skew is how many steps before and after the current one are
	// accepted: one, for clocks a little off and codes typed at the end of
	// their step.
	Skew = 1
	// secretSize is the size of a TOTP key: 160 bits (RFC 4226's
	// recommendation for SHA-1).
	secretSize = 20
)

var validateOpts = totp.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// newTOTPKey makes a TOTP key for account (the person's email) at issuer
// (the label authenticator apps show), reading randomness from r.
func newTOTPKey(issuer, account string, r io.Reader) (*otp.Key, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: validateOpts.Period,
		SecretSize: secretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: r})
	if err != nil {
		return nil, fmt.Errorf("generate totp key: %w", err)
	}
	return k, nil
}

// keyOf reads back a key from its otpauth:// URI (the sealed form).
func keyOf(url string) (*otp.Key, error) {
	k, err := otp.NewKeyFromURL(url)
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	return k, nil
}

// Step is the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// matchStep is the step within Skew of now whose code is code, or -1.
// Candidates are tried from the latest down; hotp compares in constant time.
func matchStep(secret, code string, now time.Time) int64 {
	if len(code) != Digits || strings.Trim(code, "0123456789") != "" {
		return -1
	}
	t := Step(now)
	for c := t + Skew; c >= t-Skew; c-- {
		if c < 0 {
			continue
		}
		if ok, err := hotp.ValidateCustom(code, uint64(c), secret, hotp.ValidateOpts{Digits: validateOpts.Digits, Algorithm: validateOpts.Algorithm}); err == nil && ok {
			return c
		}
	}
	return -1
}

// Code is the TOTP code of secret at t (for tests and tools).
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, validateOpts)
}

// QR is a QR code as a square of modules, drawn server-side as an inline
// SVG path (the pages' CSP allows no data: image and no script): Size
// modules a side, Path the dark ones as SVG path data.
type QR struct {
	Size int
	Path string
}

// qrOf encodes text as a QR code (error correction M) with a quiet zone of
// 4 modules.
func qrOf(text string) (QR, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return QR{}, fmt.Errorf("qr code: %w", err)
	}
	const quiet = 4
	b := code.Bounds()
	var path strings.Builder
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := code.At(x, y).RGBA(); color.Gray16Model.Convert(color.RGBA64{R: uint16(r), G: uint16(g), B: uint16(bl), A: 0xffff}).(color.Gray16).Y < 0x8000 {
				fmt.Fprintf(&path, "M%d %dh1v1h-1z", x-b.Min.X+quiet, y-b.Min.Y+quiet)
			}
		}
	}
	return QR{Size: b.Dx() + 2*quiet, Path: path.String()}, nil
}
