"""German (``de``): the message catalogue and the command strings, keyed by the English template.

Informal "du", as Discord's own German interface speaks. Product words stay: reAPI, Discord, Credits, DM, NSFW.
Every English template of the texts modules needs an entry here, with the same ``{placeholders}`` and the same
Discord markup (``<t:…>``, backticks, ``**``); ``tests/surface/test_i18n.py`` checks both.
"""

from __future__ import annotations

__all__ = ["CHOICES", "COMMANDS", "MESSAGES"]

MESSAGES: dict[str, str] = {
    # -- progress and results
    "simulated: no reAPI call was made": "simuliert: reAPI wurde nicht aufgerufen",
    "⏳ Queued": "⏳ In der Warteschlange",
    "⏳ Queued: position {position}": "⏳ In der Warteschlange: Platz {position}",
    "⏳ Queued: position {position}–{position_to}": "⏳ In der Warteschlange: Platz {position}–{position_to}",
    "📤 Submitting to reAPI…": "📤 Wird an reAPI gesendet …",
    "🎨 Generating…": "🎨 Wird erstellt …",
    "🎨 Generating… started {started}, usually ready {ready}": (
        "🎨 Wird erstellt … gestartet {started}, meist fertig {ready}"
    ),
    "🎨 Generating… started {started}": "🎨 Wird erstellt … gestartet {started}",
    "📥 Done: uploading the image…": "📥 Fertig: Das Bild wird hochgeladen …",
    "Sources": "Quellen",
    "Requested by": "Angefordert von",
    "aspect {aspect_ratio}": "Format {aspect_ratio}",
    "from job {parent_job_id}": "aus Auftrag {parent_job_id}",
    "message {n}": "Nachricht {n}",
    "image {n}": "Bild {n}",
    "… and {count} more": "… und {count} weitere",
    "I couldn't post your image in <#{channel_id}>: I'm missing {missing} there. "
    "Here it is instead; the server's admins have been told.": (
        "Ich konnte dein Bild nicht in <#{channel_id}> posten: Mir fehlt dort {missing}. "
        "Hier ist es stattdessen; die Admins des Servers wurden informiert."
    ),
    "View Channel": "Kanal ansehen",
    "Send Messages": "Nachrichten senden",
    "Send Messages in Threads": "Nachrichten in Threads senden",
    "Embed Links": "Links einbetten",
    "Attach Files": "Dateien anhängen",
    "access (the channel is gone)": "der Zugriff (der Kanal existiert nicht mehr)",
    "a permission (Discord answered Missing Permissions)": "eine Berechtigung (Discord meldete Missing Permissions)",
    " and ": " und ",
    # -- failures
    "Cancelled.": "Abgebrochen.",
    "The bot's reAPI account ran out of credits before this job was sent.": (
        "Dem reAPI-Konto des Bots sind die Credits ausgegangen, bevor dieser Auftrag gesendet wurde."
    ),
    "reAPI rejected the request.": "reAPI hat die Anfrage abgelehnt.",
    "The bot is not set up correctly (its reAPI key was refused). The bot owners have been told.": (
        "Der Bot ist nicht richtig eingerichtet (sein reAPI-Schlüssel wurde abgelehnt). "
        "Die Bot-Besitzer wurden informiert."
    ),
    "The bot's reAPI account is out of credits. The bot owner has to top it up.": (
        "Das reAPI-Konto des Bots hat keine Credits mehr. Der Bot-Besitzer muss es aufladen."
    ),
    "reAPI is busy or unreachable right now. Please try again shortly.": (
        "reAPI ist gerade ausgelastet oder nicht erreichbar. Bitte versuch es gleich noch einmal."
    ),
    "reAPI did not confirm the request. To avoid paying twice it was not sent again. You can try again.": (
        "reAPI hat die Anfrage nicht bestätigt. Damit nicht doppelt bezahlt wird, wurde sie nicht erneut "
        "gesendet. Du kannst es noch einmal versuchen."
    ),
    "reAPI failed while taking this request (an error on reAPI's side). It was not sent again, so that "
    "nobody pays twice. You can try again.": (
        "reAPI ist beim Annehmen dieser Anfrage gescheitert (ein Fehler bei reAPI). Sie wurde nicht erneut "
        "gesendet, damit niemand doppelt bezahlt. Du kannst es noch einmal versuchen."
    ),
    "The bot restarted while sending this request. To avoid paying twice it was not re-sent. You can try again.": (
        "Der Bot wurde neu gestartet, während er diese Anfrage gesendet hat. Damit nicht doppelt bezahlt wird, "
        "wurde sie nicht erneut gesendet. Du kannst es noch einmal versuchen."
    ),
    "reAPI's content filter refused this request. Try rewording it.": (
        "Der Inhaltsfilter von reAPI hat diese Anfrage abgelehnt. Versuch es mit anderen Worten."
    ),
    "reAPI could not make this image.": "reAPI konnte dieses Bild nicht erstellen.",
    "reAPI no longer knows this task.": "reAPI kennt diesen Auftrag nicht mehr.",
    "reAPI did not finish in time.": "reAPI ist nicht rechtzeitig fertig geworden.",
    "reAPI finished but returned no image.": "reAPI ist fertig, hat aber kein Bild geliefert.",
    "The finished image could not be downloaded from reAPI.": (
        "Das fertige Bild konnte nicht von reAPI heruntergeladen werden."
    ),
    "The image is too large to upload here.": "Das Bild ist zu groß, um es hier hochzuladen.",
    "The image could not be posted on Discord.": "Das Bild konnte nicht auf Discord gepostet werden.",
    "Something went wrong on our side.": "Bei uns ist etwas schiefgelaufen.",
    "It failed.": "Es hat nicht geklappt.",
    "The bot's reAPI key was refused, so new images are paused. The bot owners have been told.": (
        "Der reAPI-Schlüssel des Bots wurde abgelehnt, deshalb sind neue Bilder pausiert. "
        "Die Bot-Besitzer wurden informiert."
    ),
    "reAPI rejected the request: {detail}": "reAPI hat die Anfrage abgelehnt: {detail}",
    "reAPI could not make this image ({detail}).": "reAPI konnte dieses Bild nicht erstellen ({detail}).",
    "Something went wrong on our side (error id {detail}).": ("Bei uns ist etwas schiefgelaufen (Fehler-ID {detail})."),
    "Your {n} credit was refunded.": "Dein {n} Credit wurde erstattet.",
    "Your {n} credits were refunded.": "Deine {n} Credits wurden erstattet.",
    # -- source images
    "`{url}` is {length:,} characters long; links can be at most {limit:,}.": (
        "`{url}` ist {length:,} Zeichen lang; Links dürfen höchstens {limit:,} lang sein."
    ),
    "`{url}` is not a valid URL.": "`{url}` ist keine gültige URL.",
    "`{url}`: only http:// and https:// image links work (this one uses {scheme}).": (
        "`{url}`: Nur Bildlinks mit http:// und https:// funktionieren (dieser nutzt {scheme})."
    ),
    "`{url}`: links with a user name or password are not accepted.": (
        "`{url}`: Links mit Benutzername oder Passwort werden nicht angenommen."
    ),
    "`{url}` has no host name.": "`{url}` hat keinen Hostnamen.",
    "`{url}` points at this machine; use a public image link.": (
        "`{url}` zeigt auf diesen Rechner; nimm einen öffentlichen Bildlink."
    ),
    "`{url}` points at a private or reserved address; use a public image link.": (
        "`{url}` zeigt auf eine private oder reservierte Adresse; nimm einen öffentlichen Bildlink."
    ),
    "Give me at least one image: attach it, or paste its link in `urls`.": (
        "Gib mir mindestens ein Bild: Häng es an oder füge seinen Link in `urls` ein."
    ),
    "You gave {count} images; I can combine at most {limit} at once.": (
        "Du hast {count} Bilder angegeben; ich kann höchstens {limit} auf einmal kombinieren."
    ),
    "{image} is `{declared}`; only JPEG, PNG or WebP images can be edited.": (
        "{image} ist `{declared}`; nur JPEG-, PNG- oder WebP-Bilder können bearbeitet werden."
    ),
    "{image} is {size_mb:.1f} MB; the limit is {limit_mb} MB.": (
        "{image} ist {size_mb:.1f} MB groß; die Grenze liegt bei {limit_mb} MB."
    ),
    "{image} is larger than {limit_mb} MB.": "{image} ist größer als {limit_mb} MB.",
    "{image} is not a JPEG, PNG or WebP image.": "{image} ist kein JPEG-, PNG- oder WebP-Bild.",
    "{image} could not be fetched (HTTP {status}).": "{image} konnte nicht abgerufen werden (HTTP {status}).",
    "{image} could not be fetched ({why}).": "{image} konnte nicht abgerufen werden ({why}).",
    "{image} redirects too many times.": "{image} leitet zu oft weiter.",
    "timed out": "Zeitüberschreitung",
    "`{host}` points at a private or reserved address; use a public image link": (
        "`{host}` zeigt auf eine private oder reservierte Adresse; nimm einen öffentlichen Bildlink"
    ),
    "the name `{host}` could not be found": "der Name `{host}` wurde nicht gefunden",
    "`{host}` has no valid HTTPS certificate": "`{host}` hat kein gültiges HTTPS-Zertifikat",
    "`{host}` could not be reached": "`{host}` war nicht erreichbar",
    "the connection broke off": "die Verbindung ist abgebrochen",
    "the server's answer was not usable": "die Antwort des Servers war unbrauchbar",
    # -- refusals
    "on this bot": "bei diesem Bot",
    "in this server": "auf diesem Server",
    "You are banned from creating images {where}. Nothing was charged.": (
        "Du bist {where} für das Erstellen von Bildern gesperrt. Es wurde nichts abgebucht."
    ),
    "You have {balance} and an image costs {cost}. Your allowance refills {refill}.": (
        "Du hast {balance} und ein Bild kostet {cost}. Dein Kontingent wird {refill} aufgefüllt."
    ),
    "You already have {limit} images waiting. Wait for one to start (or cancel one), "
    "then try again. Nothing was charged.": (
        "Du hast schon {limit} Bilder in der Warteschlange. Warte, bis eins startet (oder brich eins ab), "
        "und versuch es dann noch einmal. Es wurde nichts abgebucht."
    ),
    "The queue is full right now. Please try again in a minute. Nothing was charged.": (
        "Die Warteschlange ist gerade voll. Bitte versuch es in einer Minute noch einmal. Es wurde nichts abgebucht."
    ),
    "The bot has used up today's image budget. Please try again {when}. Nothing was charged.": (
        "Der Bot hat sein Bildbudget für heute aufgebraucht. Bitte versuch es {when} noch einmal. "
        "Es wurde nichts abgebucht."
    ),
    "The bot's reAPI key was refused, so new images are paused "
    "(until {until} at the earliest). The bot owners have been told. Nothing was charged.": (
        "Der reAPI-Schlüssel des Bots wurde abgelehnt, deshalb sind neue Bilder pausiert "
        "(frühestens bis {until}). Die Bot-Besitzer wurden informiert. Es wurde nichts abgebucht."
    ),
    "The bot's reAPI account has run out of credits, so new images are paused "
    "(until {until} at the earliest). Nothing was charged.": (
        "Dem reAPI-Konto des Bots sind die Credits ausgegangen, deshalb sind neue Bilder pausiert "
        "(frühestens bis {until}). Es wurde nichts abgebucht."
    ),
    "You are starting images too quickly. You can start another one {again}.": (
        "Du startest Bilder zu schnell hintereinander. Das nächste kannst du {again} starten."
    ),
    "Those image options are not valid, so nothing was charged.": (
        "Diese Bildoptionen sind ungültig, deshalb wurde nichts abgebucht."
    ),
    "That request was refused. Nothing was charged.": "Diese Anfrage wurde abgelehnt. Es wurde nichts abgebucht.",
    "This server's admins don't allow the bot in this channel. Try another channel. Nothing was charged.": (
        "Die Admins dieses Servers erlauben den Bot in diesem Kanal nicht. Versuch es in einem anderen Kanal. "
        "Es wurde nichts abgebucht."
    ),
    "Your prompt contains a term that is blocked by this server's rules, so it was not sent. "
    "Please rephrase it. Nothing was charged.": (
        "Dein Prompt enthält einen Begriff, den die Regeln dieses Servers sperren, deshalb wurde er nicht "
        "gesendet. Bitte formulier ihn um. Es wurde nichts abgebucht."
    ),
    "Your prompt contains a term that is blocked by the bot's rules, so it was not sent. "
    "Please rephrase it. Nothing was charged.": (
        "Dein Prompt enthält einen Begriff, den die Regeln des Bots sperren, deshalb wurde er nicht "
        "gesendet. Bitte formulier ihn um. Es wurde nichts abgebucht."
    ),
    "Your prompt looks NSFW, and this server does not allow that. Nothing was charged.": (
        "Dein Prompt wirkt NSFW, und das erlaubt dieser Server nicht. Es wurde nichts abgebucht."
    ),
    "Your prompt looks NSFW: this server allows that only in age-restricted channels. Nothing was charged.": (
        "Dein Prompt wirkt NSFW: Das erlaubt dieser Server nur in altersbeschränkten Kanälen. "
        "Es wurde nichts abgebucht."
    ),
    "reAPI refused {strikes} of your prompts today under its content policy, so you are paused "
    "here until {until}. Nothing was charged.": (
        "reAPI hat heute {strikes} deiner Prompts nach seinen Inhaltsrichtlinien abgelehnt, deshalb bist du "
        "hier bis {until} pausiert. Es wurde nichts abgebucht."
    ),
    # -- server settings refusals
    "The term is empty.": "Der Begriff ist leer.",
    "A term can be at most {limit} characters long.": "Ein Begriff darf höchstens {limit} Zeichen lang sein.",
    "A term may hold letters, digits, spaces, hyphens, apostrophes and `*` (any letters) only.": (
        "Ein Begriff darf nur Buchstaben, Ziffern, Leerzeichen, Bindestriche, Apostrophe und `*` "
        "(beliebige Buchstaben) enthalten."
    ),
    "A term needs at least two letters or digits besides `*`.": (
        "Ein Begriff braucht außer `*` mindestens zwei Buchstaben oder Ziffern."
    ),
    "This server already blocks {limit} terms, the most allowed. Unblock one first.": (
        "Dieser Server sperrt schon {limit} Begriffe, mehr geht nicht. Gib zuerst einen frei."
    ),
    "That term is not on this server's blocked list. `/settings show` lists them.": (
        "Dieser Begriff steht nicht auf der Sperrliste dieses Servers. `/settings show` zeigt sie an."
    ),
    "The channel list can hold at most {limit} channels.": "Die Kanalliste fasst höchstens {limit} Kanäle.",
    "That model is not available. Choose one of: {allowed}, or `default`.": (
        "Dieses Modell gibt es nicht. Wähl eins von: {allowed} oder `default`."
    ),
    "That aspect ratio is not available. Choose one of: {allowed}, or `default`.": (
        "Dieses Seitenverhältnis gibt es nicht. Wähl eins von: {allowed} oder `default`."
    ),
    "The bot owner lets servers set a cost per image from {low} to {high} credits.": (
        "Der Bot-Besitzer erlaubt Servern Kosten pro Bild von {low} bis {high} Credits."
    ),
    "The bot owner lets servers set an allowance from 0 to {high} credits.": (
        "Der Bot-Besitzer erlaubt Servern ein Kontingent von 0 bis {high} Credits."
    ),
    "That is not one of the choices: {allowed}.": "Das ist keine der Optionen: {allowed}.",
    "Nothing changed: that is already the setting.": "Nichts geändert: Das ist schon die Einstellung.",
    "Other admins are changing the settings right now. Please try again in a moment.": (
        "Andere Admins ändern gerade die Einstellungen. Bitte versuch es gleich noch einmal."
    ),
    # -- errors and input checks
    "This command only works in a server.": "Dieser Befehl funktioniert nur auf einem Server.",
    "You are not allowed to use this here.": "Du darfst das hier nicht verwenden.",
    "Sorry, something went wrong on our side (error id `{error_id}`).": (
        "Sorry, bei uns ist etwas schiefgelaufen (Fehler-ID `{error_id}`)."
    ),
    "Your prompt is empty. Describe what you want, e.g. `a fox in the snow`.": (
        "Dein Prompt ist leer. Beschreib, was du möchtest, z. B. `ein Fuchs im Schnee`."
    ),
    "The prompt must be text.": "Der Prompt muss Text sein.",
    "Your prompt is {length:,} characters; the limit is {limit:,}.": (
        "Dein Prompt hat {length:,} Zeichen; erlaubt sind {limit:,}."
    ),
    "`{shown}` is not an aspect ratio I know. Use one of: {allowed}.": (
        "`{shown}` ist kein Seitenverhältnis, das ich kenne. Nimm eins von: {allowed}."
    ),
    "That is not an aspect ratio I know. Pick one from the list: {allowed}.": (
        "Dieses Seitenverhältnis kenne ich nicht. Wähl eins aus der Liste: {allowed}."
    ),
    "`{name}` must be a whole number from {low:,} to {high:,}.": (
        "`{name}` muss eine ganze Zahl von {low:,} bis {high:,} sein."
    ),
    "`{name}` must be a text of {low:,} to {high:,} characters.": (
        "`{name}` muss ein Text mit {low:,} bis {high:,} Zeichen sein."
    ),
    "`{name}` must be true or false.": "`{name}` muss true oder false sein.",
    "auto (the model decides)": "auto (das Modell entscheidet)",
    "1:1 square": "1:1 quadratisch",
    "16:9 widescreen": "16:9 Breitbild",
    "9:16 phone / story": "9:16 Handy / Story",
    "4:3 classic": "4:3 klassisch",
    "3:4 portrait": "3:4 Hochformat",
    "3:2 photo": "3:2 Foto",
    "2:3 portrait photo": "2:3 Hochformat-Foto",
    "21:9 cinema": "21:9 Kino",
    "Heads-up: I lack {names} in this channel. Your image is on its way and shows up here if it is ready "
    "within 15 minutes; after that I can't post here and will try to send it to you by DM instead. "
    "A server admin can give me these permissions.": (
        "Kurzer Hinweis: Mir fehlt in diesem Kanal {names}. Dein Bild ist unterwegs und erscheint hier, wenn es "
        "innerhalb von 15 Minuten fertig ist; danach kann ich hier nicht posten und versuche stattdessen, es dir "
        "per DM zu schicken. Ein Server-Admin kann mir diese Berechtigungen geben."
    ),
    # -- result buttons and the edit modal
    "Reroll": "Neu würfeln",
    "Edit": "Bearbeiten",
    "Use as reference": "Als Vorlage nutzen",
    "Delete": "Löschen",
    "Cancel": "Abbrechen",
    "This image is no longer on record, so its buttons don't work any more.": (
        "Dieses Bild ist nicht mehr gespeichert, deshalb funktionieren seine Buttons nicht mehr."
    ),
    "I can't find the image on this message any more.": "Ich finde das Bild in dieser Nachricht nicht mehr.",
    "This job no longer exists, so there is nothing to cancel.": (
        "Diesen Auftrag gibt es nicht mehr, es gibt also nichts abzubrechen."
    ),
    "It is already being generated (or finished), so it can't be cancelled now.": (
        "Es wird schon erstellt (oder ist fertig), deshalb kann es jetzt nicht mehr abgebrochen werden."
    ),
    "delete it": "löschen",
    "cancel it": "abbrechen",
    "this image": "dieses Bild",
    "Only the person who asked for this image, or a moderator, can {action}.": (
        "Nur wer dieses Bild angefordert hat oder ein Moderator kann es {action}."
    ),
    "Edit image": "Bild bearbeiten",
    "Edit this image": "Dieses Bild bearbeiten",
    "What should change?": "Was soll sich ändern?",
    "What should the new image show?": "Was soll das neue Bild zeigen?",
    "e.g. make it night-time and add falling snow": "z. B. mach es nachts und lass Schnee fallen",
    "Aspect ratio": "Seitenverhältnis",
    "auto, 1:1, 16:9, 9:16 …": "auto, 1:1, 16:9, 9:16 …",
    # -- editing from a message
    "That message has no image I can edit (JPEG, PNG or WebP).": (
        "Diese Nachricht hat kein Bild, das ich bearbeiten kann (JPEG, PNG oder WebP)."
    ),
    "I can't find the message you replied to any more.": (
        "Ich finde die Nachricht, auf die du geantwortet hast, nicht mehr."
    ),
    "The message you replied to has no image I can edit.": (
        "Die Nachricht, auf die du geantwortet hast, hat kein Bild, das ich bearbeiten kann."
    ),
    "I can't see the images in other members' messages (that needs the Message Content intent). "
    "Right-click the message → **Apps** → **Edit image** instead.": (
        "Ich sehe die Bilder in Nachrichten anderer Mitglieder nicht (dafür braucht es den Message Content "
        "Intent). Klick stattdessen mit rechts auf die Nachricht → **Apps** → **Bild bearbeiten**."
    ),
    "⏳ Checking the image…": "⏳ Das Bild wird geprüft …",
    "the embedded image": "das eingebettete Bild",
    "link {n}": "Link {n}",
    "Tell me what to change, e.g. {mention} make it night-time.": (
        "Sag mir, was sich ändern soll, z. B. {mention} mach es nachts."
    ),
    # -- /credits and /history
    "Only bot owners and server admins (Manage Server) can see other members' credits.": (
        "Nur Bot-Besitzer und Server-Admins (Server verwalten) können die Credits anderer Mitglieder sehen."
    ),
    "This is someone else's history: use `/history`.": "Das ist der Verlauf von jemand anderem: Nutz `/history`.",
    "Prev": "Zurück",
    "Next": "Weiter",
    "Your credits": "Deine Credits",
    "Balance": "Guthaben",
    "Unlimited (bot owner)": "Unbegrenzt (Bot-Besitzer)",
    "Cost per image": "Kosten pro Bild",
    "Allowance": "Kontingent",
    "You are at the cap: refills add nothing until you spend.": (
        "Du bist am Limit: Auffüllungen bringen nichts, bis du etwas ausgibst."
    ),
    "None here: credits come only from admins.": "Hier keins: Credits gibt es nur von Admins.",
    "Your images": "Deine Bilder",
    "Nothing here yet: try `/imagine`.": "Hier ist noch nichts: Probier `/imagine`.",
    "No more images: this is past the last page.": "Keine weiteren Bilder: Das ist hinter der letzten Seite.",
    "result": "Ergebnis",
    "shown only to you": "nur dir gezeigt",
    "{n} credit": "{n} Credit",
    "{n} credits": "{n} Credits",
    "every week": "jede Woche",
    "every {n} weeks": "alle {n} Wochen",
    "every day": "jeden Tag",
    "every {n} days": "alle {n} Tage",
    "every hour": "jede Stunde",
    "every {n} hours": "alle {n} Stunden",
    "every minute": "jede Minute",
    "every {n} minutes": "alle {n} Minuten",
    "every {seconds:g} seconds": "alle {seconds:g} Sekunden",
    "{period} at {time} UTC": "{period} um {time} UTC",
    "+{allowance} {schedule}, up to {cap}": "+{allowance} {schedule}, bis zu {cap}",
    "Next refill {when}": "Nächste Auffüllung {when}",
    "Page {page}": "Seite {page}",
    "Credits of {name}": "Credits von {name}",
    "🚫 Banned from creating images {where}.": "🚫 {where} für das Erstellen von Bildern gesperrt.",
    "everywhere": "überall",
    "**{balance}** ({where})": "**{balance}** ({where})",
    "{held} reserved for images in progress": "{held} für laufende Bilder reserviert",
    # -- /admin
    "Only bot owners and server admins (Manage Server) can use `/admin`.": (
        "Nur Bot-Besitzer und Server-Admins (Server verwalten) können `/admin` nutzen."
    ),
    "Bot owners cannot be banned.": "Bot-Besitzer können nicht gesperrt werden.",
    "Balances are shared by every server this bot is in, so only bot owners can change them.": (
        "Guthaben gelten auf jedem Server dieses Bots, deshalb können nur Bot-Besitzer sie ändern."
    ),
    "You need the Manage Server permission here to change credits.": (
        "Du brauchst hier die Berechtigung „Server verwalten“, um Credits zu ändern."
    ),
    "Only bot owners can ban or unban everywhere.": "Nur Bot-Besitzer können überall sperren oder entsperren.",
    "You need the Manage Server permission here to ban or unban.": (
        "Du brauchst hier die Berechtigung „Server verwalten“, um zu sperren oder zu entsperren."
    ),
    "Granted {amount} to {mention}.": "{mention} hat {amount} erhalten.",
    "Set the balance of {mention}.": "Guthaben von {mention} gesetzt.",
    "Reset the balance of {mention}.": "Guthaben von {mention} zurückgesetzt.",
    "Their balance is now {balance}.": "Das Guthaben beträgt jetzt {balance}.",
    "Their balance in this server is now {balance}.": "Das Guthaben auf diesem Server beträgt jetzt {balance}.",
    "on this bot (every server and DMs)": "bei diesem Bot (auf jedem Server und in DMs)",
    "{mention} can no longer create images {where}.": "{mention} kann {where} keine Bilder mehr erstellen.",
    "{mention} was already banned {where}.": "{mention} war {where} schon gesperrt.",
    "{mention} may create images {where} again.": "{mention} darf {where} wieder Bilder erstellen.",
    "{mention} was not banned {where}.": "{mention} war {where} nicht gesperrt.",
    "Usage, last {days} day": "Nutzung, letzter {days} Tag",
    "Usage, last {days} days": "Nutzung, letzte {days} Tage",
    " (this server)": " (dieser Server)",
    "`{date}` {delivered} delivered · {failed} failed · {credits} · {charged} sent to reAPI": (
        "`{date}` {delivered} geliefert · {failed} fehlgeschlagen · {credits} · {charged} an reAPI gesendet"
    ),
    "{n}. <@{user_id}>: {delivered} image, {credits}": "{n}. <@{user_id}>: {delivered} Bild, {credits}",
    "{n}. <@{user_id}>: {delivered} images, {credits}": "{n}. <@{user_id}>: {delivered} Bilder, {credits}",
    "{images} images, {credits}": "{images} Bilder, {credits}",
    "{cap:,} reAPI credits": "{cap:,} reAPI-Credits",
    "no cap": "kein Limit",
    "{spent:,} spent today (UTC) of {cap}": "{spent:,} heute (UTC) ausgegeben von {cap}",
    ", {in_flight:,} more waiting": ", {in_flight:,} weitere warten",
    "No activity.": "Keine Aktivität.",
    "Top members": "Top-Mitglieder",
    "Nobody yet.": "Noch niemand.",
    "Totals": "Summen",
    "Waiting to be sent": "Warten aufs Senden",
    "reAPI spend": "reAPI-Ausgaben",
    # -- owners
    ", server {guild_id}": ", Server {guild_id}",
    "Results cannot be posted in <#{channel_id}> (channel {channel_id}{server}): the bot is missing {missing}. "
    "Members there get their images by DM (latest: job {job_id}).": (
        "Ergebnisse können nicht in <#{channel_id}> gepostet werden (Kanal {channel_id}{server}): Dem Bot fehlt "
        "{missing}. Mitglieder dort bekommen ihre Bilder per DM (zuletzt: Auftrag {job_id})."
    ),
    # -- /preferences
    "Your preferences": "Deine Voreinstellungen",
    "Saved. These apply to your next images.": "Gespeichert. Das gilt für deine nächsten Bilder.",
    "Default aspect ratio": "Standard-Seitenverhältnis",
    "Model": "Modell",
    "Private results": "Private Ergebnisse",
    "Notify when ready": "Benachrichtigen, wenn fertig",
    "On: you are mentioned when an image is ready": "An: Du wirst erwähnt, wenn ein Bild fertig ist",
    "Off": "Aus",
    "Off: results are posted in the channel": "Aus: Ergebnisse werden im Kanal gepostet",
    "By DM (in the channel if your DMs are closed)": "Per DM (im Kanal, wenn deine DMs geschlossen sind)",
    "Only visible to you, when ready within 14 minutes (else by DM, else in the channel)": (
        "Nur für dich sichtbar, wenn innerhalb von 14 Minuten fertig (sonst per DM, sonst im Kanal)"
    ),
    "By DM": "Per DM",
    "Only visible to me": "Nur für mich sichtbar",
    "Edits without an aspect ratio keep their source's shape. /preferences reset:true starts over.": (
        "Bearbeitungen ohne Seitenverhältnis behalten die Form ihrer Quelle. /preferences reset:true "
        "setzt alles zurück."
    ),
    "aspect ratio": "Seitenverhältnis",
    "model": "Modell",
    "private": "privat",
    "`{shown}` is not an option for {field}. Choose one of: {allowed}. Nothing was saved.": (
        "`{shown}` ist keine Option für {field}. Wähl eins von: {allowed}. Es wurde nichts gespeichert."
    ),
    # -- /jobs
    "Your images in progress": "Deine Bilder in Arbeit",
    "You have no images waiting or being made.": "Du hast keine Bilder, die warten oder gerade erstellt werden.",
    "Cancel refunds a waiting image. An image already sent to reAPI cannot be cancelled: it was paid for.": (
        "Abbrechen erstattet ein wartendes Bild. Ein Bild, das schon an reAPI gesendet wurde, kann nicht "
        "abgebrochen werden: Es wurde bezahlt."
    ),
    "Only the member who asked for this image can cancel it from /jobs.": (
        "Nur das Mitglied, das dieses Bild angefordert hat, kann es über /jobs abbrechen."
    ),
    "That image is already finished (or was cancelled); there is nothing to cancel.": (
        "Dieses Bild ist schon fertig (oder wurde abgebrochen); es gibt nichts abzubrechen."
    ),
    "That image was already sent to reAPI. reAPI has no cancel and charges once it has the request, "
    "so it will finish and its credits cannot be given back.": (
        "Dieses Bild wurde schon an reAPI gesendet. reAPI kann nicht abbrechen und berechnet die Anfrage, "
        "sobald sie ankommt; das Bild wird also fertig und seine Credits können nicht erstattet werden."
    ),
    "⏳ waiting": "⏳ wartet",
    "📤 being sent to reAPI": "📤 wird an reAPI gesendet",
    "🎨 generating": "🎨 wird erstellt",
    "📥 uploading": "📥 wird hochgeladen",
    "Cancel #{number}": "#{number} abbrechen",
    "Cancelled. {credits} went back to your balance.": "Abgebrochen. {credits} gingen zurück auf dein Guthaben.",
    # -- delivery
    "🔒 Your image is ready and was shown only to you.": "🔒 Dein Bild ist fertig und wurde nur dir angezeigt.",
    "🔒 Your image is ready and was sent to you by DM.": "🔒 Dein Bild ist fertig und wurde dir per DM geschickt.",
    "🔒 Your image from <#{channel_id}>, sent privately as you asked in /preferences.": (
        "🔒 Dein Bild aus <#{channel_id}>, privat geschickt, wie in /preferences gewünscht."
    ),
    "it took longer than Discord lets a private reply wait and your DMs are closed": (
        "es hat länger gedauert, als Discord eine private Antwort warten lässt, und deine DMs sind geschlossen"
    ),
    "your DMs are closed to this bot": "deine DMs sind für diesen Bot geschlossen",
    "<@{user_id}> asked for private results, but {why}, so it is here instead.": (
        "<@{user_id}> wollte private Ergebnisse, aber {why}, deshalb ist es stattdessen hier."
    ),
    "<@{user_id}> your image is ready: {link}": "<@{user_id}> dein Bild ist fertig: {link}",
    # -- charts and contact sheets
    "Images per day": "Bilder pro Tag",
    "Your images per day": "Deine Bilder pro Tag",
    "reAPI spend today": "reAPI-Ausgaben heute",
    "no daily cap": "kein Tageslimit",
    "delivered": "geliefert",
    "failed": "fehlgeschlagen",
    "nobody yet": "noch niemand",
    "{spent:,} of {cap:,} credits": "{spent:,} von {cap:,} Credits",
    "{spent:,} credits ({no_cap})": "{spent:,} Credits ({no_cap})",
    "{balance:,} of {max_balance:,} credits": "{balance:,} von {max_balance:,} Credits",
    "member {user_id}": "Mitglied {user_id}",
    "Thumbnails of this page's images (grey: not available to the bot).": (
        "Vorschaubilder der Bilder dieser Seite (grau: für den Bot nicht verfügbar)."
    ),
    # -- /settings
    "Only bot owners and server admins (Manage Server) can change `/settings`.": (
        "Nur Bot-Besitzer und Server-Admins (Server verwalten) können `/settings` ändern."
    ),
    "Server settings": "Server-Einstellungen",
    "Channels": "Kanäle",
    "Defaults": "Standards",
    "Credits": "Credits",
    "Blocked terms": "Gesperrte Begriffe",
    "NSFW rule": "NSFW-Regel",
    "Reply-to-edit": "Per Antwort bearbeiten",
    "Moderator log channel": "Moderations-Logkanal",
    "Recent changes": "Letzte Änderungen",
    "No changes yet.": "Noch keine Änderungen.",
    "none": "keine",
    "on": "an",
    "off": "aus",
    "none (alerts are not posted)": "keiner (Warnungen werden nicht gepostet)",
    "Saved. Every bot process applies it within a few seconds.": (
        "Gespeichert. Jeder Bot-Prozess übernimmt das innerhalb weniger Sekunden."
    ),
    "Reply-to-edit is turned off in this server. Use `/edit` or right-click → **Apps** → **Edit image**.": (
        "Bearbeiten per Antwort ist auf diesem Server ausgeschaltet. Nutz `/edit` oder Rechtsklick → **Apps** → "
        "**Bild bearbeiten**."
    ),
    "allowed everywhere": "überall erlaubt",
    "only in age-restricted channels": "nur in altersbeschränkten Kanälen",
    "never": "nie",
    "only in": "nur in",
    "everywhere except": "überall außer",
    "channel rule": "Kanalregel",
    "channel list": "Kanalliste",
    "default model": "Standardmodell",
    "default aspect ratio": "Standard-Seitenverhältnis",
    "credits": "Credits",
    "default model and aspect ratio": "Standardmodell und -seitenverhältnis",
    "blocked terms": "gesperrte Begriffe",
    "reply-to-edit": "Bearbeiten per Antwort",
    "moderator log channel": "Moderations-Logkanal",
    " (bot default)": " (Bot-Standard)",
    "set by this server": "von diesem Server festgelegt",
    "the bot's defaults": "Standards des Bots",
    "none (the bot owner's list still applies)": "keine (die Liste des Bot-Besitzers gilt weiterhin)",
    "Model: `{model}`{model_note}\nAspect ratio: `{aspect_ratio}`{ratio_note}": (
        "Modell: `{model}`{model_note}\nSeitenverhältnis: `{aspect_ratio}`{ratio_note}"
    ),
    "{cost} per image, {allowance} per refill ({whose}).\nAllowed: cost {low}–{high}, allowance 0–{max_allowance}.": (
        "{cost} pro Bild, {allowance} pro Auffüllung ({whose}).\n"
        "Erlaubt: Kosten {low}–{high}, Kontingent 0–{max_allowance}."
    ),
    "Changed the {setting}.": "{setting} geändert.",
    "{user_mention} had {strikes} prompts refused by reAPI's content policy today and is paused "
    "from creating images until {until}.": (
        "Von {user_mention} wurden heute {strikes} Prompts nach den Inhaltsrichtlinien von reAPI abgelehnt; "
        "das Erstellen von Bildern ist bis {until} pausiert."
    ),
    # -- models (bot/surface/texts_models.py) --
    "Edit {n}": "Bearbeiten {n}",
    "Use {n}": "Verwenden {n}",
    "Choose a resolution from the list: {allowed}.": "Wähle eine Auflösung aus der Liste: {allowed}.",
    "{count} images": "{count} Bilder",
    "The model `{model}` is not available here. Choose one of: {allowed}. Nothing was charged.": (
        "Das Modell `{model}` ist hier nicht verfügbar. Wähle eines von: {allowed}. Es wurde nichts abgebucht."
    ),
    "{name} takes prompts of up to {maximum:,} characters; yours has {given:,}.": (
        "{name} nimmt Prompts mit höchstens {maximum:,} Zeichen; deiner hat {given:,}."
    ),
    "{name} cannot make the aspect ratio `{given}`. Choose one of: {allowed}.": (
        "{name} kann das Seitenverhältnis `{given}` nicht erzeugen. Wähle eines von: {allowed}."
    ),
    "{name} cannot make the resolution `{given}`. Choose one of: {allowed}.": (
        "{name} kann die Auflösung `{given}` nicht erzeugen. Wähle eine von: {allowed}."
    ),
    "At {resolution}, {name} only makes these aspect ratios: {allowed}.": (
        "Bei {resolution} erzeugt {name} nur diese Seitenverhältnisse: {allowed}."
    ),
    "{name} makes one image at a time.": "{name} erzeugt ein Bild auf einmal.",
    "{name} makes between {minimum} and {maximum} images at a time.": (
        "{name} erzeugt zwischen {minimum} und {maximum} Bilder auf einmal."
    ),
    "{name} only makes images from text: it cannot edit or use reference images.": (
        "{name} erzeugt Bilder nur aus Text: Es kann keine Bilder bearbeiten oder Referenzbilder verwenden."
    ),
    "{name} takes up to {maximum} images; you gave {given}.": (
        "{name} nimmt höchstens {maximum} Bilder; du hast {given} angegeben."
    ),
    "{text} Nothing was charged.": "{text} Es wurde nichts abgebucht.",
}

# Command, group and option names (lowercase, no spaces: Discord's rule), descriptions and choice names.
COMMANDS: dict[str, str] = {
    # names
    "imagine": "bild",
    "edit": "bearbeiten",
    "credits": "credits",
    "history": "verlauf",
    "jobs": "aufträge",
    "preferences": "voreinstellungen",
    "admin": "admin",
    "grant": "gutschreiben",
    "set": "setzen",
    "reset": "zurücksetzen",
    "ban": "sperren",
    "unban": "entsperren",
    "usage": "nutzung",
    "settings": "einstellungen",
    "show": "anzeigen",
    "channels": "kanäle",
    "channel": "kanal",
    "defaults": "standards",
    "block": "sperren",
    "unblock": "freigeben",
    "nsfw": "nsfw",
    "reply_edit": "antwort_bearbeiten",
    "log_channel": "logkanal",
    "Edit image": "Bild bearbeiten",
    # option names
    "prompt": "prompt",
    "aspect_ratio": "seitenverhältnis",
    "image": "bild",
    "image2": "bild2",
    "image3": "bild3",
    "image4": "bild4",
    "image5": "bild5",
    "image6": "bild6",
    "image7": "bild7",
    "image8": "bild8",
    "image9": "bild9",
    "image10": "bild10",
    "urls": "links",
    "user": "mitglied",
    "page": "seite",
    "member": "mitglied",
    "amount": "anzahl",
    "note": "notiz",
    "everywhere": "überall",
    "reason": "grund",
    "days": "tage",
    "mode": "modus",
    "listed": "gelistet",
    "model": "modell",
    "cost_per_image": "kosten_pro_bild",
    "allowance": "kontingent",
    "term": "begriff",
    "rule": "regel",
    "enabled": "aktiv",
    "private": "privat",
    "notify": "benachrichtigen",
    # descriptions
    "Create an image from a description.": "Erstell ein Bild aus einer Beschreibung.",
    'What to draw, e.g. "a lighthouse at dusk, watercolour".': (
        "Was gezeichnet werden soll, z. B. „ein Leuchtturm in der Dämmerung, Aquarell“."
    ),
    'Shape of the image; "auto" lets the model decide. Default: yours from /preferences, else auto.': (
        "Form des Bilds; „auto“ lässt das Modell entscheiden. Standard: deins aus /preferences, sonst auto."
    ),
    "Edit an image, or combine up to 10, following your instruction.": (
        "Bearbeite ein Bild oder kombiniere bis zu 10 nach deiner Anweisung."
    ),
    'What to change or create, e.g. "put the cat from image 1 on the sofa from image 2".': (
        "Was geändert oder erstellt werden soll, z. B. „setz die Katze aus Bild 1 auf das Sofa aus Bild 2“."
    ),
    "An image to edit (JPEG, PNG or WebP, up to 30 MB).": "Ein Bild zum Bearbeiten (JPEG, PNG oder WebP, bis 30 MB).",
    "Links to more images (http/https), separated by spaces or new lines (up to 6,000 characters).": (
        "Links zu weiteren Bildern (http/https), getrennt durch Leerzeichen oder Zeilen (bis 6.000 Zeichen)."
    ),
    'Shape of the result; "auto" lets the model decide.': "Form des Ergebnisses; „auto“ lässt das Modell entscheiden.",
    "Your bot credits: balance, next refill and what an image costs.": (
        "Deine Bot-Credits: Guthaben, nächste Auffüllung und was ein Bild kostet."
    ),
    "Admins only: whose credits to show.": "Nur für Admins: Wessen Credits angezeigt werden.",
    "Your images, newest first, with links to the results.": (
        "Deine Bilder, neueste zuerst, mit Links zu den Ergebnissen."
    ),
    "Which page to show (1 to 1,000; 5 images per page).": (
        "Welche Seite angezeigt wird (1 bis 1.000; 5 Bilder pro Seite)."
    ),
    "Bot administration": "Bot-Verwaltung",
    "Change a member's credits": "Die Credits eines Mitglieds ändern",
    "Give a member extra credits (grants may go past the refill cap).": (
        "Gib einem Mitglied zusätzliche Credits (Gutschriften dürfen das Auffüll-Limit überschreiten)."
    ),
    "Who gets the credits.": "Wer die Credits bekommt.",
    "How many credits to add (1 to 1,000,000).": "Wie viele Credits dazukommen (1 bis 1.000.000).",
    "Why (kept in the ledger; up to 200 characters).": "Warum (steht im Kontobuch; bis 200 Zeichen).",
    "Set a member's balance to an exact amount.": "Setz das Guthaben eines Mitglieds auf einen genauen Betrag.",
    "Whose balance to set.": "Wessen Guthaben gesetzt wird.",
    "The new balance (0 to 1,000,000).": "Das neue Guthaben (0 bis 1.000.000).",
    "Give a member a fresh start: a full allowance and a new refill period.": (
        "Ein Neustart für ein Mitglied: volles Kontingent und ein neuer Auffüllzeitraum."
    ),
    "Whose balance to reset.": "Wessen Guthaben zurückgesetzt wird.",
    "Stop a member from creating images (here, or everywhere for bot owners).": (
        "Sperr ein Mitglied für das Erstellen von Bildern (hier, oder überall für Bot-Besitzer)."
    ),
    "Who to ban.": "Wer gesperrt wird.",
    "Bot owners only: ban on every server and in DMs.": "Nur für Bot-Besitzer: Auf jedem Server und in DMs sperren.",
    "Why (kept with the ban; up to 200 characters).": "Warum (wird mit der Sperre gespeichert; bis 200 Zeichen).",
    "Lift a ban.": "Eine Sperre aufheben.",
    "Who to unban.": "Wer entsperrt wird.",
    "Bot owners only: lift the ban that applies everywhere.": "Nur für Bot-Besitzer: Die Sperre überall aufheben.",
    "Images and credits per day, top members and, for bot owners, reAPI spend against the cap.": (
        "Bilder und Credits pro Tag, Top-Mitglieder und für Bot-Besitzer die reAPI-Ausgaben gegen das Limit."
    ),
    "How many UTC days to show, today included (1 to 31).": (
        "Wie viele UTC-Tage angezeigt werden, heute inklusive (1 bis 31)."
    ),
    "This server's bot settings": "Die Bot-Einstellungen dieses Servers",
    "Show this server's settings, what the bot owner allows, and the latest changes.": (
        "Zeig die Einstellungen dieses Servers, was der Bot-Besitzer erlaubt, und die letzten Änderungen."
    ),
    "Where the bot may be used: everywhere, only in the listed channels, or everywhere but them.": (
        "Wo der Bot genutzt werden darf: überall, nur in den gelisteten Kanälen oder überall außer dort."
    ),
    "everywhere, only_listed (an allow-list) or except_listed (a deny-list).": (
        "everywhere, only_listed (Erlaubt-Liste) oder except_listed (Sperrliste)."
    ),
    "Put a channel on this server's channel list, or take it off.": (
        "Setz einen Kanal auf die Kanalliste dieses Servers oder nimm ihn herunter."
    ),
    "The channel (a thread counts as its parent channel too).": "Der Kanal (ein Thread zählt auch als sein Oberkanal).",
    "True to add it (the default), false to remove it.": "True zum Hinzufügen (Standard), false zum Entfernen.",
    'The model and aspect ratio used when a member does not choose ("default": the bot owner\'s).': (
        "Modell und Seitenverhältnis, wenn ein Mitglied nichts wählt („default“: die des Bot-Besitzers)."
    ),
    'A model the bot offers, or "default".': "Ein Modell, das der Bot anbietet, oder „default“.",
    'e.g. 1:1, 16:9, 9:16, or "default" (auto).': "z. B. 1:1, 16:9, 9:16 oder „default“ (auto).",
    "What an image costs here and the allowance per refill, within the bot owner's limits.": (
        "Was ein Bild hier kostet und das Kontingent pro Auffüllung, in den Grenzen des Bot-Besitzers."
    ),
    "Credits one image costs in this server.": "Credits, die ein Bild auf diesem Server kostet.",
    "Credits a member gets per refill in this server.": "Credits, die ein Mitglied hier pro Auffüllung bekommt.",
    "True: go back to the bot owner's values.": "True: Zurück zu den Werten des Bot-Besitzers.",
    "Refuse prompts holding a term (whole words, any case or accents; * stands for any letters).": (
        "Prompts mit einem Begriff ablehnen (ganze Wörter, Schreibung egal; * = beliebige Buchstaben)."
    ),
    'A word or phrase, e.g. "gore" or "blood*".': "Ein Wort oder eine Wendung, z. B. „gore“ oder „blut*“.",
    "Take a term off this server's blocked list.": "Einen Begriff von der Sperrliste dieses Servers nehmen.",
    "The term as listed in /settings show.": "Der Begriff, wie /settings show ihn auflistet.",
    "Where prompts that look NSFW may be used.": "Wo Prompts, die NSFW wirken, genutzt werden dürfen.",
    "allow, age_restricted_only, never, or default (the bot owner's rule).": (
        "allow, age_restricted_only, never oder default (die Regel des Bot-Besitzers)."
    ),
    "Turn reply-to-edit (mention the bot in a reply to an image) on or off here.": (
        "Bearbeiten per Antwort (den Bot in einer Antwort auf ein Bild erwähnen) hier an- oder ausschalten."
    ),
    "True: on; false: off.": "True: an; false: aus.",
    "Where moderator alerts go (a member paused after content-policy failures); leave empty for none.": (
        "Wohin Moderationswarnungen gehen (ein Mitglied nach Richtlinienverstößen pausiert); leer für keine."
    ),
    "The moderators' channel; leave it out to stop the alerts.": (
        "Der Kanal der Moderatoren; weglassen, um die Warnungen abzuschalten."
    ),
    "Your defaults for new images; with no options, shows them.": (
        "Deine Standards für neue Bilder; ohne Optionen werden sie angezeigt."
    ),
    'The shape /imagine uses when you give none ("auto" lets the model decide).': (
        "Die Form, die /imagine ohne Angabe nutzt („auto“ lässt das Modell entscheiden)."
    ),
    "The image model to use (the bot's enabled models).": "Das Bildmodell (eins der aktiven Modelle des Bots).",
    "Show your results only to you: by DM, or as a message only you can see.": (
        "Zeig deine Ergebnisse nur dir: per DM oder als Nachricht, die nur du siehst."
    ),
    "Mention you when an image is ready.": "Dich erwähnen, wenn ein Bild fertig ist.",
    "Go back to the defaults first.": "Zuerst auf die Standards zurücksetzen.",
    "Your images waiting or being made, with a Cancel button for each.": (
        "Deine wartenden und laufenden Bilder, jeweils mit einem Abbrechen-Button."
    ),
    # models (/imagine)
    "The image model (the bot's enabled models). Default: yours from /preferences, else the server's.": (
        "Das Bildmodell (freigeschaltete Modelle). Standard: deins aus /preferences, sonst das des Servers."
    ),
    "resolution": "auflösung",
    "0.5k, 1k, 2k or 4k, where the model offers it; larger costs more.": (
        "0.5k, 1k, 2k oder 4k, wo das Modell es anbietet; größer kostet mehr."
    ),
    "count": "anzahl",
    "How many images (1 to 4, where the model makes several); each one costs.": (
        "Wie viele Bilder (1 bis 4, wo das Modell mehrere erzeugt); jedes kostet."
    ),
}

# Choice names of the /settings options (the aspect ratios' and /preferences' come from MESSAGES); 1 to 100
# characters, spaces allowed. The value sent back stays the English one.
CHOICES: dict[str, str] = {
    "only_listed": "nur gelistete Kanäle",
    "except_listed": "alle außer gelisteten",
    "allow": "erlauben",
    "age_restricted_only": "nur altersbeschränkt",
    "never": "nie",
    "default": "Standard",
    # resolutions keep reAPI's own names
    "0.5k": "0.5k",
    "1k": "1k",
    "2k": "2k",
    "4k": "4k",
}
