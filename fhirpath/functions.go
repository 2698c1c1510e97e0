package fhirpath

import (
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// function is one entry of the function table. The parser checks the
// argument count and stores the entry in the Call node.
type function struct {
	minArgs, maxArgs int
	typeArg          bool // the first argument names a type: ofType(Quantity)
	eval             func(ev *evaluator, input []Value, call *Call) ([]Value, error)
}

func lookupFunction(name string) *function { return functions[name] }

// functions is the FHIRPath function table (read-only). Semantics follow
// Medplum's @medplum/core where it differs from the specification only in
// edge cases; divergences are noted at the implementation.
var functions = map[string]*function{
	// Existence (§5.1)
	"empty":      {0, 0, false, fnEmpty},
	"exists":     {0, 1, false, fnExists},
	"all":        {1, 1, false, fnAll},
	"allTrue":    {0, 0, false, boolAggregate(true, true)},
	"anyTrue":    {0, 0, false, boolAggregate(false, true)},
	"allFalse":   {0, 0, false, boolAggregate(true, false)},
	"anyFalse":   {0, 0, false, boolAggregate(false, false)},
	"subsetOf":   {1, 1, false, fnSubsetOf},
	"supersetOf": {1, 1, false, fnSupersetOf},
	"count":      {0, 0, false, fnCount},
	"distinct":   {0, 0, false, fnDistinct},
	"isDistinct": {0, 0, false, fnIsDistinct},
	"hasValue":   {0, 0, false, fnHasValue},

	// Filtering and projection (§5.2)
	"where":  {1, 1, false, fnWhere},
	"select": {1, 1, false, fnSelect},
	"repeat": {1, 1, false, fnRepeat},
	"ofType": {1, 1, true, fnOfType},

	// Subsetting (§5.3)
	"single":    {0, 0, false, fnSingle},
	"first":     {0, 0, false, fnFirst},
	"last":      {0, 0, false, fnLast},
	"tail":      {0, 0, false, fnTail},
	"skip":      {1, 1, false, fnSkip},
	"take":      {1, 1, false, fnTake},
	"intersect": {1, 1, false, fnIntersect},
	"exclude":   {1, 1, false, fnExclude},

	// Combining (§5.4)
	"union":   {1, 1, false, fnUnion},
	"combine": {1, 1, false, fnCombine},

	// Conversion (§5.5)
	"iif":                {2, 3, false, fnIif},
	"toBoolean":          {0, 0, false, fnToBoolean},
	"convertsToBoolean":  {0, 0, false, convertsTo(fnToBoolean)},
	"toInteger":          {0, 0, false, fnToInteger},
	"convertsToInteger":  {0, 0, false, convertsTo(fnToInteger)},
	"toDecimal":          {0, 0, false, fnToDecimal},
	"convertsToDecimal":  {0, 0, false, convertsTo(fnToDecimal)},
	"toString":           {0, 0, false, fnToString},
	"convertsToString":   {0, 0, false, convertsTo(fnToString)},
	"toDate":             {0, 0, false, fnToDate},
	"convertsToDate":     {0, 0, false, convertsTo(fnToDate)},
	"toDateTime":         {0, 0, false, fnToDateTime},
	"convertsToDateTime": {0, 0, false, convertsTo(fnToDateTime)},
	"toTime":             {0, 0, false, fnToTime},
	"convertsToTime":     {0, 0, false, convertsTo(fnToTime)},
	"toQuantity":         {0, 1, false, fnToQuantity},
	"convertsToQuantity": {0, 1, false, convertsTo(fnToQuantity)},

	// String manipulation (§5.6)
	"indexOf":        {1, 1, false, stringFunc(strIndexOf)},
	"substring":      {1, 2, false, stringFunc(strSubstring)},
	"startsWith":     {1, 1, false, stringFunc(strStartsWith)},
	"endsWith":       {1, 1, false, stringFunc(strEndsWith)},
	"contains":       {1, 1, false, stringFunc(strContains)},
	"upper":          {0, 0, false, stringFunc(strUpper)},
	"lower":          {0, 0, false, stringFunc(strLower)},
	"replace":        {2, 2, false, stringFunc(strReplace)},
	"matches":        {1, 1, false, stringFunc(strMatches)},
	"replaceMatches": {2, 2, false, stringFunc(strReplaceMatches)},
	"length":         {0, 0, false, stringFunc(strLength)},
	"toChars":        {0, 0, false, stringFunc(strToChars)},
	"trim":           {0, 0, false, stringFunc(strTrim)},
	"split":          {1, 1, false, stringFunc(strSplit)},
	"join":           {0, 1, false, fnJoin},

	// Math (§5.7)
	"abs":      {0, 0, false, mathFunc(math.Abs)},
	"ceiling":  {0, 0, false, mathFunc(math.Ceil)},
	"floor":    {0, 0, false, mathFunc(math.Floor)},
	"exp":      {0, 0, false, mathFunc(math.Exp)},
	"ln":       {0, 0, false, mathFunc(math.Log)},
	"sqrt":     {0, 0, false, mathFunc(math.Sqrt)},
	"truncate": {0, 0, false, mathFunc(math.Trunc)},
	"log":      {1, 1, false, mathFunc2(func(x, base float64) float64 { return math.Log(x) / math.Log(base) })},
	"power":    {1, 1, false, mathFunc2(math.Pow)},
	"round":    {0, 1, false, fnRound},

	// Tree navigation (§5.8)
	"children":    {0, 0, false, fnChildren},
	"descendants": {0, 0, false, fnDescendants},

	// Utility (§5.9)
	"trace":     {1, 2, false, fnTrace},
	"now":       {0, 0, false, fnNow},
	"today":     {0, 0, false, fnToday},
	"timeOfDay": {0, 0, false, fnTimeOfDay},

	// Types (§6.3) and Boolean logic (§6.5)
	"is":  {1, 1, true, fnIs},
	"as":  {1, 1, true, fnAs},
	"not": {0, 0, false, fnNot},

	// FHIR additions (FHIR R4 §2.1.9.1) and Medplum's
	"resolve":         {0, 0, false, fnResolve},
	"extension":       {1, 1, false, fnExtension},
	"htmlChecks":      {0, 1, false, fnHTMLChecks},
	"conformsTo":      {1, 1, false, fnConformsTo},
	"getResourceKey":  {0, 0, false, fnGetResourceKey},
	"getReferenceKey": {0, 1, false, fnGetReferenceKey},
}

// arg evaluates argument i of call with input as focus.
func (ev *evaluator) arg(call *Call, i int, input []Value) ([]Value, error) {
	if i >= len(call.Args) {
		return nil, nil
	}
	return ev.eval(call.Args[i], input)
}

// iterate evaluates argument 0 of call on each item alone, with $index set.
func (ev *evaluator) iterate(call *Call, input []Value, fn func(i int, item Value, result []Value) (stop bool)) error {
	savedIndex, savedLoop := ev.index, ev.inLoop
	defer func() { ev.index, ev.inLoop = savedIndex, savedLoop }()
	ev.inLoop = true
	for i := range input {
		ev.index = i
		res, err := ev.eval(call.Args[0], input[i:i+1:i+1])
		if err != nil {
			return err
		}
		if fn(i, input[i], res) {
			return nil
		}
	}
	return nil
}

func fnEmpty(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	for _, v := range input {
		if !isEmptyData(v.Data) {
			return boolResult(false), nil
		}
	}
	return boolResult(true), nil
}

func fnExists(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	if len(call.Args) == 0 {
		for _, v := range input {
			if isEmptyData(v.Data) && v.ext == nil {
				return boolResult(false), nil
			}
		}
		return boolResult(len(input) > 0), nil
	}
	found := false
	err := ev.iterate(call, input, func(_ int, _ Value, res []Value) bool {
		found = truthy(res)
		return found
	})
	return boolResult(found), err
}

func fnAll(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	all := true
	err := ev.iterate(call, input, func(_ int, _ Value, res []Value) bool {
		all = truthy(res)
		return !all
	})
	return boolResult(all), err
}

// boolAggregate builds allTrue (all, true), anyTrue, allFalse, anyFalse.
func boolAggregate(all, want bool) func(*evaluator, []Value, *Call) ([]Value, error) {
	return func(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
		for _, v := range input {
			is := truthy([]Value{v}) == want
			if all && !is {
				return boolResult(false), nil
			}
			if !all && is {
				return boolResult(true), nil
			}
		}
		return boolResult(all), nil
	}
}

// containsIdentical reports whether c holds v (JavaScript ===, as Medplum).
func containsIdentical(c []Value, v Value) bool {
	for _, x := range c {
		if identical(x, v) {
			return true
		}
	}
	return false
}

func fnSubsetOf(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	if len(input) == 0 {
		return boolResult(true), nil
	}
	other, err := ev.arg(call, 0, ev.root)
	if err != nil || len(other) == 0 {
		return boolResult(false), err
	}
	for _, v := range input {
		if !containsIdentical(other, v) {
			return boolResult(false), nil
		}
	}
	return boolResult(true), nil
}

func fnSupersetOf(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	other, err := ev.arg(call, 0, ev.root)
	if err != nil {
		return nil, err
	}
	for _, v := range other {
		if !containsIdentical(input, v) {
			return boolResult(false), nil
		}
	}
	return boolResult(true), nil
}

func fnCount(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	return []Value{numberValue(float64(len(input)))}, nil
}

func distinct(input []Value) []Value {
	var out []Value
	for _, v := range input {
		if !containsIdentical(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func fnDistinct(_ *evaluator, input []Value, _ *Call) ([]Value, error) { return distinct(input), nil }

func fnIsDistinct(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	return boolResult(len(distinct(input)) == len(input)), nil
}

// fnHasValue is Medplum's: true for any non-empty input.
func fnHasValue(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	return boolResult(len(input) != 0), nil
}

func fnWhere(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	var out []Value
	err := ev.iterate(call, input, func(_ int, item Value, res []Value) bool {
		if truthy(res) {
			out = append(out, item)
		}
		return false
	})
	return out, err
}

func fnSelect(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	var out []Value
	err := ev.iterate(call, input, func(_ int, _ Value, res []Value) bool {
		out = append(out, res...)
		return false
	})
	return out, err
}

// maxRepeat bounds the result of repeat() and descendants().
const maxRepeat = 100000

func fnRepeat(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	var out []Value
	queue := input
	for len(queue) > 0 {
		var next []Value
		err := ev.iterate(call, queue, func(_ int, _ Value, res []Value) bool {
			for _, v := range res {
				if !containsEqual(out, v) && !containsEqual(next, v) {
					next = append(next, v)
				}
			}
			return false
		})
		if err != nil {
			return nil, err
		}
		out = append(out, next...)
		if len(out) > maxRepeat {
			return nil, evalErrorf("repeat() yields more than " + strconv.Itoa(maxRepeat) + " items")
		}
		queue = next
	}
	return out, nil
}

func containsEqual(c []Value, v Value) bool {
	for _, x := range c {
		if eq, _ := equalValues(x, v); eq {
			return true
		}
	}
	return false
}

func fnOfType(_ *evaluator, input []Value, call *Call) ([]Value, error) {
	var out []Value
	for _, v := range input {
		if isType(v, call.typeArg) {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnSingle(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	if len(input) > 1 {
		return nil, evalErrorf("single() found " + plural(len(input), "item"))
	}
	return input, nil
}

func fnFirst(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	if len(input) == 0 {
		return nil, nil
	}
	return input[:1:1], nil
}

func fnLast(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	if len(input) == 0 {
		return nil, nil
	}
	return input[len(input)-1:], nil
}

func fnTail(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	if len(input) == 0 {
		return nil, nil
	}
	return input[1:], nil
}

// intArg evaluates argument i as an integer.
func (ev *evaluator) intArg(call *Call, i int, input []Value, what string) (int, error) {
	v, err := ev.arg(call, i, input)
	if err != nil {
		return 0, err
	}
	if len(v) == 0 {
		return 0, evalErrorf(what + " needs a number")
	}
	f, ok := toFloat(v[0].Data)
	if !ok {
		return 0, evalErrorf(what + " needs a number")
	}
	return int(max(min(f, math.MaxInt32), math.MinInt32)), nil
}

func fnSkip(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	n, err := ev.intArg(call, 0, input, "skip()")
	switch {
	case err != nil || n >= len(input):
		return nil, err
	case n <= 0:
		return input, nil
	}
	return input[n:], nil
}

func fnTake(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	n, err := ev.intArg(call, 0, input, "take()")
	if err != nil || n <= 0 {
		return nil, err
	}
	return input[:min(n, len(input)):min(n, len(input))], nil
}

func fnIntersect(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	other, err := ev.arg(call, 0, ev.root)
	if err != nil {
		return nil, err
	}
	var out []Value
	for _, v := range input {
		if !containsIdentical(out, v) && containsIdentical(other, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnExclude(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	other, err := ev.arg(call, 0, ev.root)
	if err != nil {
		return nil, err
	}
	var out []Value
	for _, v := range input {
		if !containsIdentical(other, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnUnion(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	other, err := ev.arg(call, 0, ev.root)
	if err != nil {
		return nil, err
	}
	return union(input, other), nil
}

func fnCombine(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	other, err := ev.arg(call, 0, ev.root)
	if err != nil {
		return nil, err
	}
	out := make([]Value, 0, len(input)+len(other))
	return append(append(out, input...), other...), nil
}

// fnIif evaluates its criterion on the focus; only the chosen branch runs.
func fnIif(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	crit, err := ev.arg(call, 0, input)
	if err != nil {
		return nil, err
	}
	if len(crit) > 1 {
		return nil, evalErrorf("iif() criterion must be a single boolean")
	}
	if len(crit) == 1 {
		if _, ok := crit[0].Data.(bool); !ok {
			return nil, evalErrorf("iif() criterion must be a single boolean")
		}
	}
	if truthy(crit) {
		return ev.arg(call, 1, input)
	}
	return ev.arg(call, 2, input)
}

// one returns the single item of a conversion's input; ok is false for an
// empty input.
func one(input []Value, fn string) (Value, bool, error) {
	switch len(input) {
	case 0:
		return Value{}, false, nil
	case 1:
		return input[0], true, nil
	}
	return Value{}, false, evalErrorf(fn + " needs a single item, found " + plural(len(input), "item"))
}

func convertsTo(conv func(*evaluator, []Value, *Call) ([]Value, error)) func(*evaluator, []Value, *Call) ([]Value, error) {
	return func(ev *evaluator, input []Value, call *Call) ([]Value, error) {
		if len(input) == 0 {
			return nil, nil
		}
		out, err := conv(ev, input, call)
		if err != nil {
			return nil, err
		}
		return boolResult(len(out) == 1), nil
	}
}

func fnToBoolean(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toBoolean()")
	if !ok {
		return nil, err
	}
	switch d := v.Data.(type) {
	case bool:
		return boolResult(d), nil
	case json.Number:
		if f, _ := toFloat(d); f == 0 || f == 1 {
			return boolResult(f == 1), nil
		}
	case string:
		switch strings.ToLower(d) {
		case "true", "t", "yes", "y", "1", "1.0":
			return boolResult(true), nil
		case "false", "f", "no", "n", "0", "0.0":
			return boolResult(false), nil
		}
	}
	return nil, nil
}

var (
	integerRegexp  = regexp.MustCompile(`^[+-]?\d+$`)
	decimalRegexp  = regexp.MustCompile(`^-?\d{1,9}(\.\d{1,9})?$`)
	quantityRegexp = regexp.MustCompile(`^-?\d{1,9}(\.\d{1,9})?`)
	datePrefix     = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?`)
	timePrefix     = regexp.MustCompile(`^T?(\d{2}(:\d{2}(:\d{2})?)?)`)
	dateRegexp     = regexp.MustCompile(`^(\d(\d(\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2]\d|3[0-1]))?)?$`)
	dateTimeRegexp = regexp.MustCompile(`^(\d(\d(\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2]\d|3[0-1])(T([01]\d|2[0-3])(:[0-5]\d:([0-5]\d|60)(\.\d{1,9})?)?)?)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)?)?)?$`)
)

func fnToInteger(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toInteger()")
	if !ok {
		return nil, err
	}
	switch d := v.Data.(type) {
	case json.Number:
		if f, _ := toFloat(d); f == math.Trunc(f) {
			return []Value{{Data: d, Type: "integer"}}, nil
		}
	case string:
		if integerRegexp.MatchString(d) {
			if n, err := strconv.ParseInt(d, 10, 64); err == nil {
				return []Value{numberValue(float64(n))}, nil
			}
		}
	case bool:
		if d {
			return []Value{numberValue(1)}, nil
		}
		return []Value{numberValue(0)}, nil
	}
	return nil, nil
}

func fnToDecimal(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toDecimal()")
	if !ok {
		return nil, err
	}
	switch d := v.Data.(type) {
	case json.Number:
		return []Value{{Data: d, Type: "decimal"}}, nil
	case string:
		if decimalRegexp.MatchString(d) {
			return []Value{{Data: json.Number(strings.TrimPrefix(d, "+")), Type: "decimal"}}, nil
		}
	case bool:
		n := "0"
		if d {
			n = "1"
		}
		return []Value{{Data: json.Number(n), Type: "decimal"}}, nil
	}
	return nil, nil
}

func fnToQuantity(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toQuantity()")
	if !ok {
		return nil, err
	}
	if _, _, isQ := isQuantity(v.Data); isQ {
		return []Value{{Data: v.Data, Type: "Quantity"}}, nil
	}
	var n string
	switch d := v.Data.(type) {
	case json.Number:
		n = string(d)
	case string:
		n = quantityRegexp.FindString(d)
	case bool:
		n = "0"
		if d {
			n = "1"
		}
	}
	if n == "" {
		return nil, nil
	}
	f, _ := strconv.ParseFloat(n, 64)
	return []Value{{Data: map[string]any{"value": numberValue(f).Data, "unit": "1"}, Type: "Quantity"}}, nil
}

// valueString is the string form of a primitive value.
func valueString(v Value) (string, bool) {
	switch d := v.Data.(type) {
	case string:
		return d, true
	case bool:
		return strconv.FormatBool(d), true
	case json.Number:
		f, ok := toFloat(d)
		if !ok {
			return string(d), true
		}
		return numberValue(f).Data.(json.Number).String(), true
	}
	if _, f, ok := isQuantity(v.Data); ok {
		unit, _ := v.Data.(map[string]any)["unit"].(string)
		return numberValue(f).Data.(json.Number).String() + " '" + unit + "'", true
	}
	return "", false
}

func fnToString(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toString()")
	if !ok {
		return nil, err
	}
	if s, ok := valueString(v); ok {
		return []Value{stringValue(s)}, nil
	}
	return nil, nil
}

// normalizeDateTime is Medplum's parseDateString: dates stay as they are,
// dateTimes become UTC instants with milliseconds when they parse.
func normalizeDateTime(s string) string {
	if len(s) <= 10 {
		return s
	}
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	return s
}

func fnToDate(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toDate()")
	if !ok {
		return nil, err
	}
	if s, ok := v.Data.(string); ok && datePrefix.MatchString(s) {
		return []Value{{Data: normalizeDateTime(s), Type: "date"}}, nil
	}
	return nil, nil
}

func fnToDateTime(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toDateTime()")
	if !ok {
		return nil, err
	}
	if s, ok := v.Data.(string); ok && datePrefix.MatchString(s) {
		return []Value{{Data: normalizeDateTime(s), Type: "dateTime"}}, nil
	}
	return nil, nil
}

func fnToTime(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	v, ok, err := one(input, "toTime()")
	if !ok {
		return nil, err
	}
	if s, ok := v.Data.(string); ok {
		if m := timePrefix.FindStringSubmatch(s); m != nil {
			return []Value{{Data: m[1], Type: "time"}}, nil
		}
	}
	return nil, nil
}

// stringFunc adapts a string function: it needs one string item (empty
// input gives empty); its arguments are evaluated on the input.
func stringFunc(fn func(ev *evaluator, s string, call *Call, input []Value) ([]Value, error)) func(*evaluator, []Value, *Call) ([]Value, error) {
	return func(ev *evaluator, input []Value, call *Call) ([]Value, error) {
		v, ok, err := one(input, call.Name+"()")
		if !ok {
			return nil, err
		}
		s, isString := v.Data.(string)
		if !isString {
			return nil, evalErrorf(call.Name + "() needs a string, found " + typeOrKind(v))
		}
		return fn(ev, s, call, input)
	}
}

// stringArg evaluates argument i as a string; ok is false when it is empty.
func (ev *evaluator) stringArg(call *Call, i int, input []Value) (string, bool, error) {
	v, err := ev.arg(call, i, input)
	if err != nil || len(v) == 0 {
		return "", false, err
	}
	s, ok := valueString(v[0])
	if !ok {
		return "", false, evalErrorf(call.Name + "() needs a string argument")
	}
	return s, true, nil
}

func strPredicate(pred func(s, arg string) bool) func(*evaluator, string, *Call, []Value) ([]Value, error) {
	return func(ev *evaluator, s string, call *Call, input []Value) ([]Value, error) {
		arg, ok, err := ev.stringArg(call, 0, input)
		if !ok {
			return nil, err
		}
		return boolResult(pred(s, arg)), nil
	}
}

var (
	strStartsWith = strPredicate(strings.HasPrefix)
	strEndsWith   = strPredicate(strings.HasSuffix)
	strContains   = strPredicate(strings.Contains)
)

func strIndexOf(ev *evaluator, s string, call *Call, input []Value) ([]Value, error) {
	sub, ok, err := ev.stringArg(call, 0, input)
	if !ok {
		return nil, err
	}
	i := strings.Index(s, sub)
	if i > 0 {
		i = utf8.RuneCountInString(s[:i])
	}
	return []Value{numberValue(float64(i))}, nil
}

func strSubstring(ev *evaluator, s string, call *Call, input []Value) ([]Value, error) {
	start, err := ev.intArg(call, 0, input, "substring()")
	if err != nil {
		return nil, err
	}
	runes := []rune(s)
	if start < 0 || start >= len(runes) {
		return nil, nil
	}
	end := len(runes)
	if len(call.Args) > 1 {
		if n, err := ev.arg(call, 1, input); err != nil {
			return nil, err
		} else if len(n) > 0 {
			length, err := ev.intArg(call, 1, input, "substring()")
			if err != nil {
				return nil, err
			}
			end = min(end, start+max(length, 0))
		}
	}
	return []Value{stringValue(string(runes[start:end]))}, nil
}

func strUpper(_ *evaluator, s string, _ *Call, _ []Value) ([]Value, error) {
	return []Value{stringValue(strings.ToUpper(s))}, nil
}

func strLower(_ *evaluator, s string, _ *Call, _ []Value) ([]Value, error) {
	return []Value{stringValue(strings.ToLower(s))}, nil
}

func strTrim(_ *evaluator, s string, _ *Call, _ []Value) ([]Value, error) {
	return []Value{stringValue(strings.TrimSpace(s))}, nil
}

func strLength(_ *evaluator, s string, _ *Call, _ []Value) ([]Value, error) {
	return []Value{numberValue(float64(utf8.RuneCountInString(s)))}, nil
}

func strToChars(_ *evaluator, s string, _ *Call, _ []Value) ([]Value, error) {
	var out []Value
	for _, r := range s {
		out = append(out, stringValue(string(r)))
	}
	return out, nil
}

func strSplit(ev *evaluator, s string, call *Call, input []Value) ([]Value, error) {
	sep, ok, err := ev.stringArg(call, 0, input)
	if !ok {
		return nil, err
	}
	var out []Value
	for _, part := range strings.Split(s, sep) {
		out = append(out, stringValue(part))
	}
	return out, nil
}

func strReplace(ev *evaluator, s string, call *Call, input []Value) ([]Value, error) {
	pattern, ok1, err := ev.stringArg(call, 0, input)
	if err != nil {
		return nil, err
	}
	subst, ok2, err := ev.stringArg(call, 1, input)
	if !ok1 || !ok2 {
		return nil, err
	}
	return []Value{stringValue(strings.ReplaceAll(s, pattern, subst))}, nil
}

// maxRegexpLen bounds patterns compiled during evaluation.
const maxRegexpLen = 4096

func (ev *evaluator) regexpArg(call *Call, input []Value) (*regexp.Regexp, bool, error) {
	pattern, ok, err := ev.stringArg(call, 0, input)
	if !ok {
		return nil, false, err
	}
	if len(pattern) > maxRegexpLen {
		return nil, false, evalErrorf(call.Name + "() pattern is too long")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, false, evalErrorf(call.Name + "() has an invalid regular expression: " + err.Error())
	}
	return re, true, nil
}

func strMatches(ev *evaluator, s string, call *Call, input []Value) ([]Value, error) {
	re, ok, err := ev.regexpArg(call, input)
	if !ok {
		return nil, err
	}
	return boolResult(re.MatchString(s)), nil
}

func strReplaceMatches(ev *evaluator, s string, call *Call, input []Value) ([]Value, error) {
	re, ok, err := ev.regexpArg(call, input)
	if !ok {
		return nil, err
	}
	subst, ok, err := ev.stringArg(call, 1, input)
	if !ok {
		return nil, err
	}
	return []Value{stringValue(re.ReplaceAllString(s, subst))}, nil
}

// fnJoin joins the string forms of the input; the separator is evaluated
// on the root, as in Medplum.
func fnJoin(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	sep := ""
	if len(call.Args) > 0 {
		s, ok, err := ev.stringArg(call, 0, ev.root)
		if err != nil {
			return nil, err
		}
		if ok {
			sep = s
		}
	}
	parts := make([]string, len(input))
	for i, v := range input {
		parts[i], _ = valueString(v)
	}
	return []Value{stringValue(strings.Join(parts, sep))}, nil
}

// mathResult wraps f like the input: a quantity stays a quantity with the
// same unit; a number keeps the input's type.
func mathResult(v Value, f float64) []Value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	if m, _, ok := isQuantity(v.Data); ok {
		return []Value{quantityWith(m, f)}
	}
	return []Value{{Data: json.Number(formatFloat(f)), Type: v.Type}}
}

func mathInput(input []Value, name string) (Value, float64, bool, error) {
	v, ok, err := one(input, name+"()")
	if !ok {
		return v, 0, false, err
	}
	if _, f, ok := isQuantity(v.Data); ok {
		return v, f, true, nil
	}
	f, ok := toFloat(v.Data)
	if !ok {
		return v, 0, false, evalErrorf(name + "() needs a number, found " + typeOrKind(v))
	}
	return v, f, true, nil
}

func mathFunc(fn func(float64) float64) func(*evaluator, []Value, *Call) ([]Value, error) {
	return func(_ *evaluator, input []Value, call *Call) ([]Value, error) {
		v, f, ok, err := mathInput(input, call.Name)
		if !ok {
			return nil, err
		}
		return mathResult(v, fn(f)), nil
	}
}

func mathFunc2(fn func(x, y float64) float64) func(*evaluator, []Value, *Call) ([]Value, error) {
	return func(ev *evaluator, input []Value, call *Call) ([]Value, error) {
		v, f, ok, err := mathInput(input, call.Name)
		if !ok {
			return nil, err
		}
		arg, err := ev.arg(call, 0, input)
		if err != nil || len(arg) == 0 {
			return nil, err
		}
		y, ok := toFloat(arg[0].Data)
		if !ok {
			return nil, evalErrorf(call.Name + "() needs a number argument")
		}
		return mathResult(v, fn(f, y)), nil
	}
}

func fnRound(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	v, f, ok, err := mathInput(input, "round")
	if !ok {
		return nil, err
	}
	precision := 0
	if len(call.Args) > 0 {
		if precision, err = ev.intArg(call, 0, input, "round()"); err != nil {
			return nil, err
		}
		if precision < 0 || precision > 15 {
			return nil, evalErrorf("round() precision must be between 0 and 15")
		}
	}
	exp := math.Pow(10, float64(precision))
	return mathResult(v, math.Floor(f*exp+0.5)/exp), nil
}

// children returns the child elements of the input items, by property name.
func (ev *evaluator) children(input []Value) []Value {
	var out []Value
	for i, v := range input {
		m, ok := v.Data.(map[string]any)
		if !ok {
			continue
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if k != "resourceType" && !strings.HasPrefix(k, "_") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, ev.navigate(input[i:i+1], k, false)...)
		}
	}
	return out
}

func fnChildren(ev *evaluator, input []Value, _ *Call) ([]Value, error) {
	return ev.children(input), nil
}

func fnDescendants(ev *evaluator, input []Value, _ *Call) ([]Value, error) {
	var out []Value
	for level := ev.children(input); len(level) > 0; level = ev.children(level) {
		out = append(out, level...)
		if len(out) > maxRepeat {
			return nil, evalErrorf("descendants() yields more than " + strconv.Itoa(maxRepeat) + " items")
		}
		if err := ev.ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fnTrace(_ *evaluator, input []Value, _ *Call) ([]Value, error) { return input, nil }

func fnNow(_ *evaluator, _ []Value, _ *Call) ([]Value, error) {
	return []Value{{Data: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), Type: "dateTime"}}, nil
}

func fnToday(_ *evaluator, _ []Value, _ *Call) ([]Value, error) {
	return []Value{{Data: time.Now().UTC().Format("2006-01-02"), Type: "date"}}, nil
}

func fnTimeOfDay(_ *evaluator, _ []Value, _ *Call) ([]Value, error) {
	return []Value{{Data: time.Now().UTC().Format("15:04:05.000"), Type: "time"}}, nil
}

// fnIs is the function form of is: one boolean per item, as in Medplum.
func fnIs(_ *evaluator, input []Value, call *Call) ([]Value, error) {
	out := make([]Value, len(input))
	for i, v := range input {
		out[i] = boolValue(isType(v, call.typeArg))
	}
	return out, nil
}

func fnAs(_ *evaluator, input []Value, call *Call) ([]Value, error) {
	v, err := singleton(input, "")
	if err != nil || len(input) == 0 {
		return nil, err
	}
	if isType(v, call.typeArg) {
		return input, nil
	}
	return nil, nil
}

// fnNot negates the toBoolean() of the input (Medplum): empty stays empty.
func fnNot(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	b, err := fnToBoolean(ev, input, call)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	return boolResult(!b[0].Data.(bool)), nil
}

// fnResolve "resolves" references without reading anything, as Medplum
// does when indexing: an embedded resource is returned as it is, and
// "Type/id" (or "Type?query", or type plus identifier) gives a stub
// {resourceType, id} typed Type, so resolve() is Patient works.
func fnResolve(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	var out []Value
	for _, v := range input {
		var ref string
		switch d := v.Data.(type) {
		case string:
			ref = d
		case map[string]any:
			if res, ok := d["resource"].(map[string]any); ok {
				out = append(out, guessValue(res))
				continue
			}
			if r, ok := d["reference"].(string); ok && r != "" {
				ref = r
			} else if t, ok := d["type"].(string); ok && t != "" && d["identifier"] != nil {
				ref = t + "?identifier"
			}
		}
		if i := strings.IndexByte(ref, '?'); i >= 0 {
			if rt := ref[:i]; rt != "" {
				out = append(out, Value{Data: map[string]any{"resourceType": rt}, Type: rt})
			}
			continue
		}
		if i := strings.IndexByte(ref, '/'); i >= 0 {
			// Medplum splits on every /: "Patient/1/_history/2" is
			// Patient/1, and an absolute URL gives the type "http:".
			rt, id := ref[:i], ref[i+1:]
			if j := strings.IndexByte(id, '/'); j >= 0 {
				id = id[:j]
			}
			if rt != "" {
				out = append(out, Value{Data: map[string]any{"resourceType": rt, "id": id}, Type: rt})
			}
		}
	}
	return out, nil
}

// fnExtension returns the first extension with the url of the first input
// item (Medplum's behaviour; the specification returns every match of
// every item).
func fnExtension(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	url, ok, err := ev.stringArg(call, 0, input)
	if !ok || len(input) == 0 {
		return nil, err
	}
	m, isMap := input[0].Data.(map[string]any)
	if !isMap {
		m = input[0].ext
	}
	exts, _ := m["extension"].([]any)
	for i, e := range exts {
		if em, ok := e.(map[string]any); ok && em["url"] == url {
			return []Value{{Data: em, Type: "Extension", path: &pathNode{parent: input[0].path, key: "extension", index: i}}}, nil
		}
	}
	return nil, nil
}

func fnHTMLChecks(_ *evaluator, _ []Value, _ *Call) ([]Value, error) { return boolResult(true), nil }

func fnConformsTo(ev *evaluator, input []Value, call *Call) ([]Value, error) {
	url, ok, err := ev.stringArg(call, 0, input)
	if !ok {
		return nil, err
	}
	const prefix = "http://hl7.org/fhir/StructureDefinition/"
	if !strings.HasPrefix(url, prefix) {
		return nil, evalErrorf("conformsTo() expects a StructureDefinition URL")
	}
	out := make([]Value, len(input))
	for i, v := range input {
		m, _ := v.Data.(map[string]any)
		out[i] = boolValue(m != nil && m["resourceType"] == url[len(prefix):])
	}
	return out, nil
}

func fnGetResourceKey(_ *evaluator, input []Value, _ *Call) ([]Value, error) {
	if len(input) == 0 {
		return nil, nil
	}
	m, _ := input[0].Data.(map[string]any)
	if id, ok := m["id"].(string); ok && id != "" {
		return []Value{{Data: id, Type: "id"}}, nil
	}
	return nil, nil
}

func fnGetReferenceKey(_ *evaluator, input []Value, call *Call) ([]Value, error) {
	if len(input) == 0 {
		return nil, nil
	}
	m, _ := input[0].Data.(map[string]any)
	ref, _ := m["reference"].(string)
	if ref == "" {
		return nil, nil
	}
	if len(call.Args) > 0 {
		if id, ok := call.Args[0].(*Ident); ok && !strings.HasPrefix(ref, id.Name+"/") {
			return nil, nil
		}
	}
	id := ref
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		id = ref[i+1:]
		if j := strings.IndexByte(id, '/'); j >= 0 {
			id = id[:j]
		}
	}
	return []Value{{Data: id, Type: "id"}}, nil
}
