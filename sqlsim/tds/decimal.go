package tds

import (
	"fmt"
	"math/big"
	"strings"
)

// DecimalFromInt64 returns v * 10^-scale.
func DecimalFromInt64(v int64, scale uint8) Decimal {
	if v < 0 {
		// -v overflows for MinInt64; uint64 arithmetic does not.
		return Decimal{Lo: uint64(-(v + 1)) + 1, Negative: true, Scale: scale}
	}
	return Decimal{Lo: uint64(v), Scale: scale}
}

// DecimalFromUint64 returns v * 10^-scale (e.g. an LSN with scale 0).
func DecimalFromUint64(v uint64, scale uint8) Decimal {
	return Decimal{Lo: v, Scale: scale}
}

// DecimalFromBig returns v * 10^-scale; v must fit in 128 bits.
func DecimalFromBig(v *big.Int, scale uint8) (Decimal, error) {
	mag := new(big.Int).Abs(v)
	if mag.BitLen() > 128 {
		return Decimal{}, fmt.Errorf("tds: %s does not fit a decimal", v)
	}
	lo := new(big.Int).And(mag, new(big.Int).SetUint64(^uint64(0)))
	hi := new(big.Int).Rsh(mag, 64)
	return Decimal{Hi: hi.Uint64(), Lo: lo.Uint64(), Negative: v.Sign() < 0, Scale: scale}, nil
}

// ParseDecimal parses "-123.4500" style text; the scale is the number of
// digits after the point.
func ParseDecimal(s string) (Decimal, error) {
	s = strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	if digits == "" || len(frac) > 38 {
		return Decimal{}, fmt.Errorf("tds: invalid decimal %q", s)
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return Decimal{}, fmt.Errorf("tds: invalid decimal %q", s)
		}
	}
	v, _ := new(big.Int).SetString(digits, 10)
	if neg {
		v.Neg(v)
	}
	return DecimalFromBig(v, uint8(len(frac)))
}

// Unscaled returns the signed integer Unscaled so that the value is
// Unscaled * 10^-Scale.
func (d Decimal) Unscaled() *big.Int {
	v := new(big.Int).SetUint64(d.Hi)
	v.Lsh(v, 64)
	v.Or(v, new(big.Int).SetUint64(d.Lo))
	if d.Negative {
		v.Neg(v)
	}
	return v
}

// String formats the value with exactly Scale digits after the point.
func (d Decimal) String() string {
	digits := new(big.Int).Abs(d.Unscaled()).String()
	if d.Scale > 0 {
		if len(digits) <= int(d.Scale) {
			digits = strings.Repeat("0", int(d.Scale)-len(digits)+1) + digits
		}
		cut := len(digits) - int(d.Scale)
		digits = digits[:cut] + "." + digits[cut:]
	}
	if d.Negative && d.Hi|d.Lo != 0 {
		return "-" + digits
	}
	return digits
}

// rescale returns the magnitude of d at another scale, rounding half away
// from zero when digits are dropped, as SQL Server converts.
func (d Decimal) rescale(scale uint8) *big.Int {
	mag := new(big.Int).Abs(d.Unscaled())
	switch {
	case scale > d.Scale:
		mag.Mul(mag, pow10(int(scale-d.Scale)))
	case scale < d.Scale:
		div := pow10(int(d.Scale - scale))
		q, r := new(big.Int).QuoRem(mag, div, new(big.Int))
		if r.Lsh(r, 1).Cmp(div) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		mag = q
	}
	return mag
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// Rescale returns d with another scale, rounding half away from zero when
// digits are dropped (SQL Server's conversion between numeric types).
// It fails when the result does not fit in 128 bits.
func (d Decimal) Rescale(scale uint8) (Decimal, error) {
	mag := d.rescale(scale)
	out, err := DecimalFromBig(mag, scale)
	out.Negative = d.Negative && mag.Sign() != 0
	return out, err
}

// Digits is the number of decimal digits of the unscaled magnitude (at
// least 1), to compare with a numeric(p,s) precision.
func (d Decimal) Digits() int {
	return len(new(big.Int).Abs(d.Unscaled()).String())
}
