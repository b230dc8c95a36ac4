package oidc

import (
	"golang.org/x/text/language"
)

// messages are the texts of the provider's pages in one language. Every
// field must be set in every language (a test checks it); the templates
// refer to them as {{.T.Field}}.
type messages struct {
	Lang string

	// Login page.
	SignInTitle, Email, Password, PasswordHint, SignIn, OrSignInWith string
	SignedInAs, ContinueAs, UseAnother, WrongPassword                string
	// ContinueWith starts the button that goes to the identity provider a
	// login_hint's domain routes to: "Continue with <provider> (<org>)";
	// HintedProvider says why the page offers it.
	ContinueWith, HintedProvider string

	// Consent page.
	ConsentTitle, ConsentWants, Allow, Deny                    string
	ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOffline, Scope string

	// Onboarding page.
	OnboardTitle, OnboardIntro, OrgName, OrgDescription, GroupName, GroupDescription string
	Roles, NameHint, CreateOrganization                                              string
	RoleAdministrator, RoleUser, RoleReader                                          string
	ErrOrgName, ErrGroupName, ErrDescription, ErrRoles, ErrOrgTaken                  string

	// Logout and the way to an upstream identity provider.
	LogoutTitle, LogoutButton, ContinueTitle, ContinueText, ContinueLink string
	LeaveText, LeaveFrom                                                 string

	// Messages: a title and a text each.
	LinkExpiredTitle, LinkExpiredText         string
	RefusedTitle, RefusedText                 string
	BadStateText                              string
	UnknownProviderTitle, UnknownProviderText string
	UpstreamFailedTitle, UpstreamFailedText   string
	UpstreamTimeoutTitle, UpstreamTimeoutText string
	UnavailableTitle, UnavailableText         string
	UnverifiedTitle, UnverifiedText           string
	ForeignDomainTitle, ForeignDomainText     string
	InactiveTitle, InactiveText               string
	ErrorTitle, ErrorText                     string
	BadRequestTitle, BadRequestText           string
	SignedOutTitle, SignedOutText             string
	SignupDoneTitle, SignupDoneText           string
	SignupErrorTitle, SignupErrorText         string

	// Password link and setup pages (issue 13).
	PasswordLinkTitle, PasswordLinkIntro, NewPassword, RepeatPassword, NewPasswordHint string
	SavePassword, PasswordsDiffer, PasswordWeak, BadEmail                              string
	SetupTitle, SetupIntro, CreateAdministrator                                        string
	PasswordSetTitle, PasswordSetText, SignInLink                                      string
	EmailTakenTitle, EmailTakenText, AdminExistsTitle, AdminExistsText                 string
	// The "Forgot password?" page (issue 14).
	ForgotPassword, ForgotTitle, ForgotIntro, SendResetLink, ForgotSentTitle, ForgotSentText, ForgotNoMail string
	// Errors of the authorization endpoint that cannot go back to the
	// application (authorizeErrors).
	UnknownClientTitle, UnknownClientText   string
	BadRedirectTitle, BadRedirectText       string
	AuthorizeErrorTitle, AuthorizeErrorText string
	// LockoutHint follows every failed password sign-in, known account or
	// not (so it says nothing about any account): after %d failures in a
	// row sign-in pauses for %d minutes; what the owner does then.
	LockoutHint string

	// Device sign-in (RFC 8628): the user code page, the approval page
	// and what follows them.
	DeviceTitle, DeviceIntro, UserCode, UserCodeHint, DeviceContinue string
	DeviceWrongCode, DeviceRefused                                   string
	DeviceConfirmTitle, DeviceConfirmWants, DeviceWarning, Approve   string
	DeviceApprovedTitle, DeviceApprovedText                          string
	DeviceDeniedTitle, DeviceDeniedText                              string
	DeviceTooManyTitle, DeviceTooManyText                            string
	// Second factor pages (issue 14): the code prompt, the recovery code
	// prompt, the enrolment page and the page that shows recovery codes.
	MFATitle, MFAIntro, MFACode, MFAVerify, MFAUseRecovery, MFAUseApp, MFAWrongCode, MFALocked string
	RecoveryTitle, RecoveryIntro, RecoveryCode                                                 string
	EnrolTitle, EnrolIntro, EnrolScan, EnrolSecret, EnrolConfirm                               string
	CodesTitle, CodesIntro, CodesShown, CodesContinue                                          string
}

var english = &messages{
	Lang: "en",

	SignInTitle:    "Sign in",
	Email:          "Email address",
	Password:       "Password",
	PasswordHint:   "Leave it empty if your organization signs you in with its own identity provider.",
	SignIn:         "Sign in",
	OrSignInWith:   "Or sign in with",
	SignedInAs:     "You are signed in as",
	ContinueAs:     "Continue as",
	ContinueWith:   "Continue with",
	HintedProvider: "Your organization signs you in with its own identity provider.",
	UseAnother:     "Or use another account",
	WrongPassword:  "The email address or the password is wrong.",

	ConsentTitle: "Allow access?",
	ConsentWants: "would like to:",
	Allow:        "Allow",
	Deny:         "Deny",
	ScopeOpenID:  "Confirm who you are",
	ScopeProfile: "See your user name",
	ScopeEmail:   "See your email address",
	ScopeOffline: "Stay signed in while you are away (a refresh token)",
	Scope:        "Use the permission",

	OnboardTitle:       "Create your organization",
	OnboardIntro:       "Your account belongs to no organization yet. Create one: you become the first member of its first group.",
	OrgName:            "Organization name",
	OrgDescription:     "Organization description (optional)",
	GroupName:          "Name of your group",
	GroupDescription:   "Group description (optional)",
	Roles:              "Roles of your group",
	NameHint:           "1 to 63 letters, digits, hyphens, underscores or dots, starting and ending with a letter or digit.",
	CreateOrganization: "Create organization",
	RoleAdministrator:  "administers the organization: groups, users, projects, identity providers",
	RoleUser:           "uses the organization's projects",
	RoleReader:         "reads everything and changes nothing",
	ErrOrgName:         "The organization name is not valid.",
	ErrGroupName:       "The group name is not valid.",
	ErrDescription:     "A description is plain text of at most 1024 characters.",
	ErrRoles:           "Choose roles from the list.",
	ErrOrgTaken:        "An organization with this name already exists. Choose another name.",

	LogoutTitle:   "Sign out?",
	LogoutButton:  "Sign out",
	ContinueTitle: "Continuing to your identity provider",
	ContinueText:  "If nothing happens, follow this link:",
	ContinueLink:  "Continue",
	LeaveText:     "You have been signed out. The application asks to send you on to this site, which Gatehouse does not vouch for:",
	LeaveFrom:     "Application:",

	LinkExpiredTitle:     "Sign-in link expired",
	LinkExpiredText:      "Go back to the application and start again.",
	RefusedTitle:         "Request refused",
	RefusedText:          "The form is stale or was not sent from this page. Go back to the application and start again.",
	BadStateText:         "The answer from the identity provider does not belong to a sign-in in progress. Go back to the application and start again.",
	UnknownProviderTitle: "Unknown identity provider",
	UnknownProviderText:  "Go back and choose another way to sign in.",
	UpstreamFailedTitle:  "Sign-in failed",
	UpstreamFailedText:   "The identity provider did not complete the sign-in. Go back to the application and try again.",
	UpstreamTimeoutTitle: "Sign-in timed out",
	UpstreamTimeoutText:  "The identity provider did not answer in time. Go back to the application and try again later.",
	UnavailableTitle:     "Temporarily unavailable",
	UnavailableText:      "Sign-in is not possible right now. Please try again in a few seconds.",
	UnverifiedTitle:      "Email address not verified",
	UnverifiedText:       "Your identity provider did not confirm your email address.",
	ForeignDomainTitle:   "Sign-in refused",
	ForeignDomainText:    "Your organization's identity provider cannot sign in addresses outside its domain.",
	InactiveTitle:        "Account not active",
	InactiveText:         "Your account is pending or suspended. Ask an administrator of your organization.",
	ErrorTitle:           "Something went wrong",
	ErrorText:            "Please try again later.",
	BadRequestTitle:      "Bad request",
	BadRequestText:       "The form could not be read.",
	SignedOutTitle:       "Signed out",
	SignedOutText:        "You have been signed out.",
	SignupDoneTitle:      "Account activated",
	SignupDoneText:       "Your account is active. You can now sign in to the applications of your organization.",
	SignupErrorTitle:     "Sign-up link not valid",
	SignupErrorText:      "The link is unknown, has expired or was already used. Ask an administrator of your organization for a new one.",

	DeviceTitle:         "Connect a device",
	DeviceIntro:         "Enter the code that your device (a command-line tool, a TV, another app) shows.",
	UserCode:            "Code",
	UserCodeHint:        "Eight letters, for example BCDF-GHJK.",
	DeviceContinue:      "Continue",
	DeviceWrongCode:     "This code is wrong, has expired or was already used. Check the code on your device, or start again there.",
	DeviceRefused:       "This account may not sign in to the application. Nothing was connected.",
	DeviceConfirmTitle:  "Connect this device?",
	DeviceConfirmWants:  "asks to sign in on your device as you and to:",
	DeviceWarning:       "Only approve if you started this sign-in yourself, on a device in front of you. If someone else gave you the code (by email, chat or phone), deny: they would get access to your account.",
	Approve:             "Approve",
	DeviceApprovedTitle: "Device connected",
	DeviceApprovedText:  "You can return to your device: it is signed in. You may close this page.",
	DeviceDeniedTitle:   "Device not connected",
	DeviceDeniedText:    "You denied the request. The device gets no access.",
	DeviceTooManyTitle:  "Too many wrong codes",
	DeviceTooManyText:   "Too many wrong codes were entered from your network. Wait a few minutes, then try again.",
	PasswordLinkTitle:   "Choose your password",
	PasswordLinkIntro:   "Choose the password you will sign in with as",
	NewPassword:         "New password",
	RepeatPassword:      "New password again",
	NewPasswordHint:     "At least 12 characters. A passphrase of several words is easy to remember and hard to guess.",
	SavePassword:        "Save the password",
	PasswordsDiffer:     "The two passwords differ.",
	PasswordWeak:        "The password is too weak: it needs at least 12 characters (and at most 1024 bytes).",
	BadEmail:            "That is not an email address.",
	SetupTitle:          "Set up Gatehouse",
	SetupIntro:          "Create the first platform administrator: the person who signs in to the console and administers everything.",
	CreateAdministrator: "Create the administrator",
	PasswordSetTitle:    "Your password is set",
	PasswordSetText:     "You can sign in with your email address and the new password.",
	SignInLink:          "Go to the console",
	EmailTakenTitle:     "This address is taken",
	EmailTakenText:      "Another local account already uses this email address. Ask your administrator.",
	AdminExistsTitle:    "Gatehouse is set up already",
	AdminExistsText:     "A platform administrator exists: setup links no longer work. Sign in instead.",
	UnknownClientTitle:  "Unknown application",
	UnknownClientText:   "The application that sent you here is not registered with Gatehouse. Go back and tell its administrator.",
	BadRedirectTitle:    "Sign-in link not valid",
	BadRedirectText:     "The application asked to return you to an address it has not registered, so Gatehouse will not send you there. Go back and tell the application's administrator.",
	AuthorizeErrorTitle: "Sign-in request not valid",
	AuthorizeErrorText:  "The application sent a sign-in request that Gatehouse cannot accept. Go back to the application and try again.",
	LockoutHint:         "After %d failed attempts in a row, sign-in for an address is paused for %d minutes. If that happened, wait and try again; if you did not make these attempts or it keeps happening, contact an administrator of your organization.",
	ForgotPassword:      "Forgot password?",
	ForgotTitle:         "Reset your password",
	ForgotIntro:         "Enter the address of your account. If it has a password here, we mail it a link to choose a new one.",
	SendResetLink:       "Send the link",
	ForgotSentTitle:     "Check your mail",
	ForgotSentText:      "If the address has an account with a password here, a link to reset it is on its way. The link works once, for 24 hours. Nothing arrived? Check the spam folder, or ask your administrator.",
	ForgotNoMail:        "This Gatehouse sends no mail. Ask your administrator for a password reset link.",
	MFATitle:            "Two-step verification",
	MFAIntro:            "Enter the 6-digit code that your authenticator app shows for this account.",
	MFACode:             "Code",
	MFAVerify:           "Verify",
	MFAUseRecovery:      "Use a recovery code instead",
	MFAUseApp:           "Use the authenticator app instead",
	MFAWrongCode:        "This code is not valid. Codes work once; wait for the next one if you just used it.",
	MFALocked:           "Too many wrong codes: verification is paused for a while. Try again later, or ask an administrator of your organization to reset your factors.",
	RecoveryTitle:       "Use a recovery code",
	RecoveryIntro:       "Enter one of the recovery codes you saved when you set up two-step verification. Each code works once.",
	RecoveryCode:        "Recovery code",
	EnrolTitle:          "Set up two-step verification",
	EnrolIntro:          "Your organization requires a second step at sign-in. Add this account to an authenticator app, then enter the code it shows.",
	EnrolScan:           "Scan this QR code with the app:",
	EnrolSecret:         "Or enter this key by hand:",
	EnrolConfirm:        "Confirm",
	CodesTitle:          "Save your recovery codes",
	CodesIntro:          "If you lose your authenticator app, each of these codes signs you in once. Store them somewhere safe: they are shown only now.",
	CodesShown:          "Your recovery codes were shown when you set up two-step verification; they are not shown again. You can make a new set in your account.",
	CodesContinue:       "I have saved them, continue",
}

var german = &messages{
	Lang: "de",

	SignInTitle:    "Anmelden",
	Email:          "E-Mail-Adresse",
	Password:       "Passwort",
	PasswordHint:   "Leer lassen, wenn Ihre Organisation Sie über ihren eigenen Identitätsanbieter anmeldet.",
	SignIn:         "Anmelden",
	OrSignInWith:   "Oder anmelden mit",
	SignedInAs:     "Sie sind angemeldet als",
	ContinueAs:     "Weiter als",
	ContinueWith:   "Weiter mit",
	HintedProvider: "Ihre Organisation meldet Sie über ihren eigenen Identitätsanbieter an.",
	UseAnother:     "Oder ein anderes Konto verwenden",
	WrongPassword:  "Die E-Mail-Adresse oder das Passwort ist falsch.",

	ConsentTitle: "Zugriff erlauben?",
	ConsentWants: "möchte:",
	Allow:        "Erlauben",
	Deny:         "Ablehnen",
	ScopeOpenID:  "Bestätigen, wer Sie sind",
	ScopeProfile: "Ihren Benutzernamen sehen",
	ScopeEmail:   "Ihre E-Mail-Adresse sehen",
	ScopeOffline: "Angemeldet bleiben, während Sie nicht da sind (ein Refresh-Token)",
	Scope:        "Die Berechtigung nutzen",

	OnboardTitle:       "Ihre Organisation anlegen",
	OnboardIntro:       "Ihr Konto gehört noch zu keiner Organisation. Legen Sie eine an: Sie werden das erste Mitglied ihrer ersten Gruppe.",
	OrgName:            "Name der Organisation",
	OrgDescription:     "Beschreibung der Organisation (optional)",
	GroupName:          "Name Ihrer Gruppe",
	GroupDescription:   "Beschreibung der Gruppe (optional)",
	Roles:              "Rollen Ihrer Gruppe",
	NameHint:           "1 bis 63 Buchstaben, Ziffern, Bindestriche, Unterstriche oder Punkte, am Anfang und am Ende ein Buchstabe oder eine Ziffer.",
	CreateOrganization: "Organisation anlegen",
	RoleAdministrator:  "verwaltet die Organisation: Gruppen, Benutzer, Projekte, Identitätsanbieter",
	RoleUser:           "nutzt die Projekte der Organisation",
	RoleReader:         "liest alles und ändert nichts",
	ErrOrgName:         "Der Name der Organisation ist ungültig.",
	ErrGroupName:       "Der Name der Gruppe ist ungültig.",
	ErrDescription:     "Eine Beschreibung ist einfacher Text mit höchstens 1024 Zeichen.",
	ErrRoles:           "Wählen Sie Rollen aus der Liste.",
	ErrOrgTaken:        "Eine Organisation mit diesem Namen gibt es schon. Wählen Sie einen anderen Namen.",

	LogoutTitle:   "Abmelden?",
	LogoutButton:  "Abmelden",
	ContinueTitle: "Weiter zu Ihrem Identitätsanbieter",
	ContinueText:  "Falls nichts passiert, folgen Sie diesem Link:",
	ContinueLink:  "Weiter",
	LeaveText:     "Sie wurden abgemeldet. Die Anwendung möchte Sie zu dieser Website weiterleiten, für die Gatehouse nicht bürgt:",
	LeaveFrom:     "Anwendung:",

	LinkExpiredTitle:     "Anmeldelink abgelaufen",
	LinkExpiredText:      "Kehren Sie zur Anwendung zurück und beginnen Sie erneut.",
	RefusedTitle:         "Anfrage abgelehnt",
	RefusedText:          "Das Formular ist veraltet oder wurde nicht von dieser Seite gesendet. Kehren Sie zur Anwendung zurück und beginnen Sie erneut.",
	BadStateText:         "Die Antwort des Identitätsanbieters gehört zu keiner laufenden Anmeldung. Kehren Sie zur Anwendung zurück und beginnen Sie erneut.",
	UnknownProviderTitle: "Unbekannter Identitätsanbieter",
	UnknownProviderText:  "Gehen Sie zurück und wählen Sie eine andere Art der Anmeldung.",
	UpstreamFailedTitle:  "Anmeldung fehlgeschlagen",
	UpstreamFailedText:   "Der Identitätsanbieter hat die Anmeldung nicht abgeschlossen. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut.",
	UpstreamTimeoutTitle: "Zeitüberschreitung bei der Anmeldung",
	UpstreamTimeoutText:  "Der Identitätsanbieter hat nicht rechtzeitig geantwortet. Kehren Sie zur Anwendung zurück und versuchen Sie es später erneut.",
	UnavailableTitle:     "Vorübergehend nicht verfügbar",
	UnavailableText:      "Die Anmeldung ist gerade nicht möglich. Bitte versuchen Sie es in einigen Sekunden erneut.",
	UnverifiedTitle:      "E-Mail-Adresse nicht bestätigt",
	UnverifiedText:       "Ihr Identitätsanbieter hat Ihre E-Mail-Adresse nicht bestätigt.",
	ForeignDomainTitle:   "Anmeldung verweigert",
	ForeignDomainText:    "Der Identitätsanbieter Ihrer Organisation kann keine Adressen außerhalb ihrer Domain anmelden.",
	InactiveTitle:        "Konto nicht aktiv",
	InactiveText:         "Ihr Konto ist ausstehend oder gesperrt. Wenden Sie sich an die Administration Ihrer Organisation.",
	ErrorTitle:           "Etwas ist schiefgelaufen",
	ErrorText:            "Bitte versuchen Sie es später erneut.",
	BadRequestTitle:      "Ungültige Anfrage",
	BadRequestText:       "Das Formular konnte nicht gelesen werden.",
	SignedOutTitle:       "Abgemeldet",
	SignedOutText:        "Sie wurden abgemeldet.",
	SignupDoneTitle:      "Konto aktiviert",
	SignupDoneText:       "Ihr Konto ist aktiv. Sie können sich jetzt bei den Anwendungen Ihrer Organisation anmelden.",
	SignupErrorTitle:     "Registrierungslink ungültig",
	SignupErrorText:      "Der Link ist unbekannt, abgelaufen oder wurde schon verwendet. Bitten Sie die Administration Ihrer Organisation um einen neuen.",

	DeviceTitle:         "Gerät verbinden",
	DeviceIntro:         "Geben Sie den Code ein, den Ihr Gerät (ein Kommandozeilenprogramm, ein Fernseher, eine andere App) anzeigt.",
	UserCode:            "Code",
	UserCodeHint:        "Acht Buchstaben, zum Beispiel BCDF-GHJK.",
	DeviceContinue:      "Weiter",
	DeviceWrongCode:     "Dieser Code ist falsch, abgelaufen oder wurde schon verwendet. Prüfen Sie den Code auf Ihrem Gerät oder beginnen Sie dort neu.",
	DeviceRefused:       "Dieses Konto darf sich bei der Anwendung nicht anmelden. Es wurde nichts verbunden.",
	DeviceConfirmTitle:  "Dieses Gerät verbinden?",
	DeviceConfirmWants:  "möchte sich auf Ihrem Gerät als Sie anmelden und:",
	DeviceWarning:       "Bestätigen Sie nur, wenn Sie diese Anmeldung selbst auf einem Gerät vor Ihnen begonnen haben. Hat Ihnen jemand anderes den Code gegeben (per E-Mail, Chat oder Telefon), lehnen Sie ab: diese Person bekäme Zugriff auf Ihr Konto.",
	Approve:             "Bestätigen",
	DeviceApprovedTitle: "Gerät verbunden",
	DeviceApprovedText:  "Sie können zu Ihrem Gerät zurückkehren: es ist angemeldet. Diese Seite können Sie schließen.",
	DeviceDeniedTitle:   "Gerät nicht verbunden",
	DeviceDeniedText:    "Sie haben die Anfrage abgelehnt. Das Gerät erhält keinen Zugriff.",
	DeviceTooManyTitle:  "Zu viele falsche Codes",
	DeviceTooManyText:   "Aus Ihrem Netz wurden zu viele falsche Codes eingegeben. Warten Sie einige Minuten und versuchen Sie es dann erneut.",
	PasswordLinkTitle:   "Passwort wählen",
	PasswordLinkIntro:   "Wählen Sie das Passwort, mit dem Sie sich anmelden werden, als",
	NewPassword:         "Neues Passwort",
	RepeatPassword:      "Neues Passwort wiederholen",
	NewPasswordHint:     "Mindestens 12 Zeichen. Ein Satz aus mehreren Wörtern ist leicht zu merken und schwer zu erraten.",
	SavePassword:        "Passwort speichern",
	PasswordsDiffer:     "Die beiden Passwörter unterscheiden sich.",
	PasswordWeak:        "Das Passwort ist zu schwach: Es braucht mindestens 12 Zeichen (und höchstens 1024 Bytes).",
	BadEmail:            "Das ist keine E-Mail-Adresse.",
	SetupTitle:          "Gatehouse einrichten",
	SetupIntro:          "Legen Sie den ersten Plattform-Administrator an: die Person, die sich an der Konsole anmeldet und alles verwaltet.",
	CreateAdministrator: "Administrator anlegen",
	PasswordSetTitle:    "Ihr Passwort ist gesetzt",
	PasswordSetText:     "Sie können sich jetzt mit Ihrer E-Mail-Adresse und dem neuen Passwort anmelden.",
	SignInLink:          "Zur Konsole",
	EmailTakenTitle:     "Diese Adresse ist vergeben",
	EmailTakenText:      "Ein anderes lokales Konto verwendet diese E-Mail-Adresse bereits. Wenden Sie sich an Ihre Administration.",
	AdminExistsTitle:    "Gatehouse ist bereits eingerichtet",
	AdminExistsText:     "Es gibt einen Plattform-Administrator: Einrichtungslinks gelten nicht mehr. Melden Sie sich stattdessen an.",
	UnknownClientTitle:  "Unbekannte Anwendung",
	UnknownClientText:   "Die Anwendung, die Sie hierher geschickt hat, ist bei Gatehouse nicht registriert. Gehen Sie zurück und informieren Sie ihre Administration.",
	BadRedirectTitle:    "Anmeldelink ungültig",
	BadRedirectText:     "Die Anwendung möchte Sie an eine Adresse zurückschicken, die sie nicht registriert hat; Gatehouse leitet Sie dorthin nicht weiter. Gehen Sie zurück und informieren Sie die Administration der Anwendung.",
	AuthorizeErrorTitle: "Anmeldeanfrage ungültig",
	AuthorizeErrorText:  "Die Anwendung hat eine Anmeldeanfrage gesendet, die Gatehouse nicht annehmen kann. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut.",
	LockoutHint:         "Nach %d Fehlversuchen in Folge wird die Anmeldung für eine Adresse %d Minuten lang pausiert. Falls das passiert ist, warten Sie und versuchen Sie es erneut; wenn Sie diese Versuche nicht unternommen haben oder es wieder passiert, wenden Sie sich an die Administration Ihrer Organisation.",
	ForgotPassword:      "Passwort vergessen?",
	ForgotTitle:         "Passwort zurücksetzen",
	ForgotIntro:         "Geben Sie die Adresse Ihres Kontos ein. Hat es hier ein Passwort, senden wir ihr einen Link, um ein neues zu wählen.",
	SendResetLink:       "Link senden",
	ForgotSentTitle:     "Sehen Sie in Ihr Postfach",
	ForgotSentText:      "Hat die Adresse hier ein Konto mit Passwort, ist ein Link zum Zurücksetzen unterwegs. Er funktioniert einmal, 24 Stunden lang. Nichts angekommen? Sehen Sie im Spam-Ordner nach oder fragen Sie Ihre Administration.",
	ForgotNoMail:        "Dieses Gatehouse versendet keine E-Mails. Bitten Sie Ihre Administration um einen Link zum Zurücksetzen des Passworts.",
	MFATitle:            "Bestätigung in zwei Schritten",
	MFAIntro:            "Geben Sie den 6-stelligen Code ein, den Ihre Authenticator-App für dieses Konto anzeigt.",
	MFACode:             "Code",
	MFAVerify:           "Bestätigen",
	MFAUseRecovery:      "Stattdessen einen Wiederherstellungscode verwenden",
	MFAUseApp:           "Stattdessen die Authenticator-App verwenden",
	MFAWrongCode:        "Dieser Code ist ungültig. Jeder Code gilt nur einmal; warten Sie auf den nächsten, wenn Sie ihn gerade verwendet haben.",
	MFALocked:           "Zu viele falsche Codes: Die Bestätigung ist eine Weile pausiert. Versuchen Sie es später erneut oder bitten Sie die Administration Ihrer Organisation, Ihre Faktoren zurückzusetzen.",
	RecoveryTitle:       "Wiederherstellungscode verwenden",
	RecoveryIntro:       "Geben Sie einen der Wiederherstellungscodes ein, die Sie bei der Einrichtung gespeichert haben. Jeder Code gilt nur einmal.",
	RecoveryCode:        "Wiederherstellungscode",
	EnrolTitle:          "Bestätigung in zwei Schritten einrichten",
	EnrolIntro:          "Ihre Organisation verlangt bei der Anmeldung einen zweiten Schritt. Fügen Sie dieses Konto einer Authenticator-App hinzu und geben Sie den angezeigten Code ein.",
	EnrolScan:           "Scannen Sie diesen QR-Code mit der App:",
	EnrolSecret:         "Oder geben Sie diesen Schlüssel von Hand ein:",
	EnrolConfirm:        "Bestätigen",
	CodesTitle:          "Wiederherstellungscodes speichern",
	CodesIntro:          "Falls Sie Ihre Authenticator-App verlieren, meldet Sie jeder dieser Codes einmal an. Bewahren Sie sie sicher auf: Sie werden nur jetzt angezeigt.",
	CodesShown:          "Ihre Wiederherstellungscodes wurden bei der Einrichtung angezeigt und werden nicht erneut angezeigt. In Ihrem Konto können Sie neue erstellen.",
	CodesContinue:       "Gespeichert, weiter",
}

// UILocales are the languages the pages are shown in, English first (the
// default). Discovery lists them as ui_locales_supported.
var UILocales = []language.Tag{language.English, language.German}

var catalogue = map[string]*messages{"en": english, "de": german}

var localeMatcher = language.NewMatcher(UILocales)

// pickLocale chooses the pages' language: the first of the request's
// ui_locales that Gatehouse ships; with no ui_locales, the best match of the
// browser's Accept-Language; English otherwise (ui_locales naming only
// languages Gatehouse does not ship included).
func pickLocale(uiLocales []language.Tag, acceptLanguage string) string {
	if len(uiLocales) > 0 {
		for _, t := range uiLocales {
			base, _ := t.Base()
			if _, ok := catalogue[base.String()]; ok {
				return base.String()
			}
		}
		return "en"
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := localeMatcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	base, _ := UILocales[i].Base()
	return base.String()
}

// texts returns the messages of locale (English for anything unknown).
func texts(locale string) *messages {
	if m, ok := catalogue[locale]; ok {
		return m
	}
	return english
}
