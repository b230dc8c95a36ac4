package connector

// OnVerify makes p report the parameters of every password hash it checks.
func OnVerify(p *Password, f func(Argon2Params)) { p.onVerify = f }
