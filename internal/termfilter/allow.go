package termfilter

// The allowlist. A sequence not named here is dropped. Each entry is there
// because programs that draw full-screen (vim, htop, less, tmux as a
// client, Claude Code, bubbletea and ink programs) need it and it acts on
// the screen or on how the keyboard and mouse are reported, never on the
// host: no clipboard, title, window, palette, file, notification, printer
// or conformance level, and no query whose reply carries anything but
// fixed-form numbers.

// escAllowed reports whether ESC, the intermediates inter and final pass.
func escAllowed(inter []byte, final byte) bool {
	switch len(inter) {
	case 0:
		switch final {
		case '7', '8', // DECSC, DECRC: save and restore the cursor
			'=', '>', // DECKPAM, DECKPNM: keypad modes
			'D', 'E', 'M', // IND, NEL, RI
			'H',      // HTS: set a tab stop
			'N', 'O', // SS2, SS3
			'c': // RIS: reset the screen, what `reset` sends
			return true
		}
	case 1:
		switch inter[0] {
		case '(', ')', '*', '+', '-', '.', '/':
			// Designate a character set (line drawing and the like). Not
			// ESC %, which leaves UTF-8 and would make the terminal read
			// C1 controls this filter read as text.
			return true
		case '#':
			// DECDHL, DECSWL, DECDWL, DECALN: line sizes, the test pattern.
			return final == '3' || final == '4' || final == '5' || final == '6' || final == '8'
		}
	}
	return false
}

// csiKey names a CSI sequence by its private marker (0 or one of <=>?),
// its one intermediate (0 or 0x20-0x2F) and its final byte.
type csiKey struct{ marker, inter, final byte }

// paramRule says which parameters a CSI sequence may carry.
type paramRule uint8

const (
	_           paramRule = iota // not allowed
	anyParams                    // any digits, ';' and ':'
	modes                        // a list of modes, each in the mode set of its kind
	noneOrZero                   // no parameter, or 0: a query with a fixed reply
	statusQuery                  // DSR: 5 (status) or 6 (cursor position)
	decStatus                    // DECDSR: 6 (cursor position) or 996 (dark or light)
)

var csiRules = map[csiKey]paramRule{
	// Editing and cursor movement.
	{0, 0, '@'}:   anyParams, // ICH
	{0, 0, 'A'}:   anyParams, // CUU
	{0, 0, 'B'}:   anyParams, // CUD
	{0, 0, 'C'}:   anyParams, // CUF
	{0, 0, 'D'}:   anyParams, // CUB
	{0, 0, 'E'}:   anyParams, // CNL
	{0, 0, 'F'}:   anyParams, // CPL
	{0, 0, 'G'}:   anyParams, // CHA
	{0, 0, 'H'}:   anyParams, // CUP
	{0, 0, 'I'}:   anyParams, // CHT
	{0, 0, 'J'}:   anyParams, // ED
	{0, 0, 'K'}:   anyParams, // EL
	{0, 0, 'L'}:   anyParams, // IL
	{0, 0, 'M'}:   anyParams, // DL
	{0, 0, 'P'}:   anyParams, // DCH
	{0, 0, 'S'}:   anyParams, // SU
	{0, 0, 'T'}:   anyParams, // SD
	{0, 0, 'X'}:   anyParams, // ECH
	{0, 0, 'Z'}:   anyParams, // CBT
	{0, 0, '`'}:   anyParams, // HPA
	{0, 0, 'a'}:   anyParams, // HPR
	{0, 0, 'b'}:   anyParams, // REP
	{0, 0, 'd'}:   anyParams, // VPA
	{0, 0, 'e'}:   anyParams, // VPR
	{0, 0, 'f'}:   anyParams, // HVP
	{0, 0, 'g'}:   anyParams, // TBC
	{0, 0, 'm'}:   anyParams, // SGR: colours and attributes
	{0, 0, 'r'}:   anyParams, // DECSTBM: scroll region
	{0, 0, 's'}:   anyParams, // SCOSC or DECSLRM
	{0, 0, 'u'}:   anyParams, // SCORC
	{'?', 0, 'J'}: anyParams, // DECSED
	{'?', 0, 'K'}: anyParams, // DECSEL
	{0, ' ', 'q'}: anyParams, // DECSCUSR: cursor shape
	{0, '!', 'p'}: anyParams, // DECSTR: soft reset

	// Modes.
	{0, 0, 'h'}:   modes, // SM
	{0, 0, 'l'}:   modes, // RM
	{'?', 0, 'h'}: modes, // DECSET
	{'?', 0, 'l'}: modes, // DECRST
	{'?', 0, 's'}: modes, // XTSAVE
	{'?', 0, 'r'}: modes, // XTRESTORE

	// Keyboard reporting: xterm's modifyOtherKeys, kitty's protocol.
	{'>', 0, 'm'}: anyParams,  // XTMODKEYS
	{'>', 0, 'n'}: anyParams,  // XTMODKEYS off
	{'>', 0, 'u'}: anyParams,  // kitty: push flags
	{'<', 0, 'u'}: anyParams,  // kitty: pop flags
	{'=', 0, 'u'}: anyParams,  // kitty: set flags
	{'?', 0, 'u'}: noneOrZero, // kitty: query flags (reply: numbers)

	// Queries whose replies are fixed-form numbers, which programs use to
	// find out what the terminal does.
	{0, 0, 'c'}:     noneOrZero,  // DA1
	{'>', 0, 'c'}:   noneOrZero,  // DA2
	{0, 0, 'n'}:     statusQuery, // DSR
	{'?', 0, 'n'}:   decStatus,   // DECDSR
	{0, '$', 'p'}:   anyParams,   // DECRQM (ANSI mode)
	{'?', '$', 'p'}: anyParams,   // DECRQM (private mode)
}

// csiTable is csiRules as an array indexed by csiIndex, for speed: the
// lookup runs for every CSI sequence of every session.
var csiTable = func() (t [5 * 17 * 64]paramRule) {
	for k, r := range csiRules {
		t[csiIndex(k)] = r
	}
	return t
}()

// csiIndex is k's index in csiTable. Preconditions: k.marker is 0 or one
// of <=>?, k.inter is 0 or in 0x20-0x2F, k.final is in 0x40-0x7F.
func csiIndex(k csiKey) int {
	m := 0
	if k.marker != 0 {
		m = int(k.marker-'<') + 1
	}
	i := 0
	if k.inter != 0 {
		i = int(k.inter-0x20) + 1
	}
	return (m*17+i)*64 + int(k.final-0x40)
}

// ansiModes are the SM/RM modes that pass: IRM (insert) and LNM (newline).
// Not KAM (2), which locks the keyboard, or SRM (12), local echo.
var ansiModes = map[int]bool{4: true, 20: true}

// privateModes are the DEC private modes that pass. Not DECANM (2), which
// puts the terminal in VT52 mode and so out of step with this filter;
// DECCOLM (3), which resizes the window; 1001 (highlight mouse tracking),
// whose protocol asks the program back; nor any other not named.
var privateModes = map[int]bool{
	1:    true, // DECCKM: application cursor keys
	4:    true, // DECSCLM: smooth scroll
	5:    true, // DECSCNM: reverse video, the visual bell
	6:    true, // DECOM: origin mode
	7:    true, // DECAWM: autowrap
	8:    true, // DECARM: autorepeat
	9:    true, // X10 mouse
	12:   true, // blinking cursor
	25:   true, // DECTCEM: show the cursor
	45:   true, // reverse wraparound
	47:   true, // alternate screen
	66:   true, // DECNKM: application keypad
	67:   true, // DECBKM: backspace sends BS
	69:   true, // DECLRMM: left and right margins
	1000: true, // mouse: press and release
	1002: true, // mouse: button motion
	1003: true, // mouse: any motion
	1004: true, // focus events
	1005: true, // mouse: UTF-8 encoding
	1006: true, // mouse: SGR encoding
	1007: true, // alternate scroll
	1015: true, // mouse: urxvt encoding
	1016: true, // mouse: SGR pixels
	1034: true, // meta key sets the eighth bit
	1035: true, // num lock and meta
	1036: true, // meta sends ESC
	1039: true, // alt sends ESC
	1047: true, // alternate screen
	1048: true, // save the cursor
	1049: true, // alternate screen, saved cursor
	2004: true, // bracketed paste
	2026: true, // synchronized output
	2027: true, // grapheme clusters
	2031: true, // dark and light theme reports
	2048: true, // in-band resize reports
}

// csiAllowed reports whether the CSI sequence with the parameter and
// intermediate bytes seq and final passes.
func csiAllowed(seq []byte, final byte) bool {
	var k csiKey
	k.final = final
	params := seq
	for i, b := range seq {
		if b < 0x30 {
			// Parameters come first (inCSI sees to it); one intermediate.
			if len(seq)-i != 1 {
				return false
			}
			params, k.inter = seq[:i], b
			break
		}
	}
	if len(params) > 0 && params[0] >= '<' {
		k.marker, params = params[0], params[1:]
	}
	for _, b := range params {
		if (b < '0' || b > '9') && b != ';' && b != ':' {
			return false
		}
	}
	switch csiTable[csiIndex(k)] {
	case anyParams:
		return true
	case modes:
		set := privateModes
		if k.marker == 0 {
			set = ansiModes
		}
		return eachParam(params, func(n int) bool { return set[n] })
	case noneOrZero:
		return len(params) == 0 || string(params) == "0"
	case statusQuery:
		return string(params) == "5" || string(params) == "6"
	case decStatus:
		return string(params) == "6" || string(params) == "996"
	}
	return false
}

// eachParam reports whether params is a non-empty ';'-separated list of
// numbers, each of which ok accepts.
func eachParam(params []byte, ok func(int) bool) bool {
	if len(params) == 0 {
		return false
	}
	n, digits := 0, 0
	for i := 0; i <= len(params); i++ {
		if i == len(params) || params[i] == ';' {
			if digits == 0 || !ok(n) {
				return false
			}
			n, digits = 0, 0
			continue
		}
		b := params[i]
		if b < '0' || b > '9' || digits >= 5 {
			return false
		}
		n, digits = n*10+int(b-'0'), digits+1
	}
	return true
}
