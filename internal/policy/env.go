package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Names of the variables an expression can use.
const (
	VarService      = "service"
	VarOperation    = "operation"
	VarNow          = "now"
	VarSourceIP     = "sourceIP"
	VarPrincipal    = "principal"
	VarOrganization = "organization"
	VarProject      = "project"
	VarParameters   = "parameters"
	VarResources    = "resources"
)

// Limits bound what a policy may contain and what one evaluation may cost.
// Zero fields take the defaults (DefaultLimits).
type Limits struct {
	// MaxRulesPerService bounds the rules of one service.
	MaxRulesPerService int
	// MaxExpressionBytes bounds the length of one expression.
	MaxExpressionBytes int
	// MaxPolicyBytes bounds the size of the whole policy as JSON.
	MaxPolicyBytes int
	// MaxCost bounds the estimated worst-case cost of one expression at
	// compile time, and is the cel.CostLimit of one evaluation.
	MaxCost uint64
	// MaxInputSize is the size (string length, list or map entries) the cost
	// estimate assumes for every variable and everything reached through it.
	MaxInputSize uint64
}

// DefaultLimits are the limits used for zero Limits fields. A 64 KiB policy
// holds a few hundred realistic rules; 100 rules per service is more than any
// readable first-match list; 100 000 cost units (roughly as many simple
// operations) evaluate in well under a millisecond.
var DefaultLimits = Limits{
	MaxRulesPerService: 100,
	MaxExpressionBytes: 4096,
	MaxPolicyBytes:     64 << 10,
	MaxCost:            100_000,
	MaxInputSize:       256,
}

func (l Limits) withDefaults() Limits {
	if l.MaxRulesPerService <= 0 {
		l.MaxRulesPerService = DefaultLimits.MaxRulesPerService
	}
	if l.MaxExpressionBytes <= 0 {
		l.MaxExpressionBytes = DefaultLimits.MaxExpressionBytes
	}
	if l.MaxPolicyBytes <= 0 {
		l.MaxPolicyBytes = DefaultLimits.MaxPolicyBytes
	}
	if l.MaxCost == 0 {
		l.MaxCost = DefaultLimits.MaxCost
	}
	if l.MaxInputSize == 0 {
		l.MaxInputSize = DefaultLimits.MaxInputSize
	}
	return l
}

// Env is the compilation environment: the CEL declarations, the services a
// policy may name, and the limits. It is immutable and safe for concurrent use.
type Env struct {
	cel      *cel.Env
	services map[string]bool
	limits   Limits
}

// NewEnv returns an environment in which policies may name exactly the given
// services (typically the services of the operation catalogue).
func NewEnv(services []string, limits Limits) (*Env, error) {
	known := make(map[string]bool, len(services))
	for _, s := range services {
		if s == "" {
			return nil, fmt.Errorf("policy environment: empty service name")
		}
		known[s] = true
	}
	env, err := cel.NewEnv(
		cel.Variable(VarService, cel.StringType),
		cel.Variable(VarOperation, cel.StringType),
		cel.Variable(VarNow, cel.TimestampType),
		cel.Variable(VarSourceIP, cel.StringType),
		cel.Variable(VarPrincipal, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarOrganization, cel.StringType),
		cel.Variable(VarProject, cel.StringType),
		cel.Variable(VarParameters, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarResources, cel.MapType(cel.StringType, cel.DynType)),
		cel.Function("inIpRange",
			cel.Overload("in_ip_range_string_string",
				[]*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inIPRange)),
			cel.MemberOverload("string_in_ip_range_string",
				[]*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inIPRange)),
		),
		// Hours and days without a time zone argument are UTC, whatever the
		// server's local zone.
		cel.DefaultUTCTimeZone(true),
		zoneAccessors(),
		// parameters and resources come from JSON, where every number is a
		// double: parameters.limit > 10 must compare a double with an int.
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, fmt.Errorf("policy environment: %w", err)
	}
	return &Env{cel: env, services: known, limits: limits.withDefaults()}, nil
}

// Services returns the service names a policy may use, sorted.
func (e *Env) Services() []string {
	out := make([]string, 0, len(e.services))
	for s := range e.services {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Limits returns the environment's limits, defaults filled in.
func (e *Env) Limits() Limits { return e.limits }

// inIPRange reports whether ip is inside cidr. An address or prefix that does
// not parse is an error, so the rule using it is skipped. IPv4-mapped IPv6
// addresses match IPv4 prefixes.
func inIPRange(ipVal, cidrVal ref.Val) ref.Val {
	ipStr, ok := ipVal.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(ipVal)
	}
	cidrStr, ok := cidrVal.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(cidrVal)
	}
	ip, ok := parseAddr(string(ipStr))
	if !ok {
		return types.NewErr("inIpRange: invalid IP address %q", string(ipStr))
	}
	prefix, err := netip.ParsePrefix(string(cidrStr))
	if err != nil {
		return types.NewErr("inIpRange: invalid CIDR %q", string(cidrStr))
	}
	return types.Bool(inPrefix(ip, prefix))
}

// parseAddr parses an address as inIpRange reads it.
func parseAddr(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	return ip, err == nil
}

// inPrefix is inIpRange on parsed values: a zone is ignored, and an
// IPv4-mapped IPv6 address is in an IPv4 prefix when its IPv4 address is.
func inPrefix(ip netip.Addr, prefix netip.Prefix) bool {
	if prefix.Addr().Is4() {
		ip = ip.Unmap()
	}
	return prefix.Contains(ip.WithZone(""))
}

// zoneAccessors redefines the bindings of the timestamp accessors that take
// a time zone (now.getHours('Europe/Zurich'), …) to look zone names up once:
// cel-go calls time.LoadLocation on every evaluation, which reads the zone
// database and made a business-hours rule cost some 20 µs instead of well
// under one. Numeric offsets ('+01:00') go to cel-go's own implementation.
func zoneAccessors() cel.EnvOption {
	accessors := []struct{ function, overload string }{
		{overloads.TimeGetFullYear, overloads.TimestampToYearWithTz},
		{overloads.TimeGetMonth, overloads.TimestampToMonthWithTz},
		{overloads.TimeGetDayOfYear, overloads.TimestampToDayOfYearWithTz},
		{overloads.TimeGetDayOfMonth, overloads.TimestampToDayOfMonthZeroBasedWithTz},
		{overloads.TimeGetDate, overloads.TimestampToDayOfMonthOneBasedWithTz},
		{overloads.TimeGetDayOfWeek, overloads.TimestampToDayOfWeekWithTz},
		{overloads.TimeGetHours, overloads.TimestampToHoursWithTz},
		{overloads.TimeGetMinutes, overloads.TimestampToMinutesWithTz},
		{overloads.TimeGetSeconds, overloads.TimestampToSecondsWithTz},
		{overloads.TimeGetMilliseconds, overloads.TimestampToMillisecondsWithTz},
	}
	opts := make([]cel.EnvOption, 0, len(accessors))
	for _, a := range accessors {
		function, overload := a.function, a.overload
		opts = append(opts, cel.Function(function, cel.MemberOverload(overload,
			[]*cel.Type{cel.TimestampType, cel.StringType}, cel.IntType,
			cel.BinaryBinding(func(tsVal, tzVal ref.Val) ref.Val {
				ts, ok := tsVal.(types.Timestamp)
				if !ok {
					return types.MaybeNoSuchOverloadErr(tsVal)
				}
				tz, ok := tzVal.(types.String)
				if !ok || strings.Contains(string(tz), ":") {
					return ts.Receive(function, overload, []ref.Val{tzVal})
				}
				loc, err := location(string(tz))
				if err != nil {
					return types.WrapErr(err)
				}
				return types.Timestamp{Time: ts.Time.In(loc)}.Receive(function, "", nil)
			}))))
	}
	return cel.Lib(envOptions(opts))
}

// envOptions turns options into a cel.Library.
type envOptions []cel.EnvOption

// CompileOptions implements cel.Library.
func (o envOptions) CompileOptions() []cel.EnvOption { return o }

// ProgramOptions implements cel.Library.
func (o envOptions) ProgramOptions() []cel.ProgramOption { return nil }

// locations caches time zones by name. Only zones that load are kept, so it
// holds at most the zone database's few hundred names.
var locations sync.Map

func location(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	locations.Store(name, loc)
	return loc, nil
}

// estimator bounds the size of every variable (and of everything reached
// through one) by MaxInputSize, so that the compile-time cost estimate of a
// comprehension over parameters or resources is finite and meaningful.
type estimator struct{ maxSize uint64 }

// EstimateSize implements cost.Estimator.
func (e estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) > 0 {
		return &cost.SizeEstimate{Min: 0, Max: e.maxSize}
	}
	return nil
}

// EstimateCallCost implements cost.Estimator: parsing an address and a prefix
// costs about as much as a short string comparison.
func (e estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	if function == "inIpRange" {
		return &cost.CallEstimate{CostEstimate: cost.Estimate{Min: 1, Max: 10}}
	}
	return nil
}
