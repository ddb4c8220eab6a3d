"""normalise: validate and clean customer rows; reject, with a reason, what cannot be fixed.

stdin:  {"table": {"source", "columns", "rows": [{"line", "cells"}...]}}
stdout: a Batch record {"source", "records": [Customer...], "rejected": [{"line", "reason"}...]}
exit 0 ok, 1 a required column is missing, 3 more than half the rows are rejected (the export
format has probably changed: a human should look before anything is written).
A pure function of its input. Python 3 standard library only.

Cleaning rules
- id: trimmed, upper-cased, must be C and five digits; a repeated id is rejected as a duplicate.
- name: whitespace collapsed, 1 to 200 characters.
- email: trimmed, lower-cased, must look like name@domain.tld.
- country: ISO 3166-1 alpha-2 code in any case, or a common English or native country name.
- signup: YYYY-MM-DD, YYYY/MM/DD, DD.MM.YYYY; D/M/YYYY or M/D/YYYY only when the day is above 12
  (otherwise the order of day and month is unknown and the row is rejected).
- spend: euros; "1,240.50", "2.150,00", "€ 89.90", "310,00 €" and "EUR 12" are understood;
  "1,240" and "1.240" (one separator, three digits after it) are ambiguous and rejected, and so
  are other currencies and negative amounts.
"""

import json
import re
import sys
from datetime import date
from decimal import Decimal, InvalidOperation

TOOL = "normalise"
COLUMN_ALIASES = {
    "id": ("id", "customerid", "customer", "customerno", "customernumber"),
    "name": ("name", "fullname", "customername"),
    "email": ("email", "emailaddress", "mail"),
    "country": ("country", "countrycode"),
    "signup": ("signup", "signupdate", "signedup", "created", "since"),
    "spend": ("spend", "lifetimespend", "totalspend", "revenue"),
}
CUSTOMER_ID = re.compile(r"^C[0-9]{5}$")
EMAIL = re.compile(r"^[^@ ]+@[^@ ]+[.][a-z]{2,}$")
ISO_CODES = set(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR "
    "BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ "
    "EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW "
    "GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY "
    "KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV "
    "MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY "
    "QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG "
    "TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM "
    "ZW".split()
)
COUNTRY_NAMES = {
    "austria": "AT", "österreich": "AT", "belgium": "BE", "belgië": "BE", "belgique": "BE",
    "brazil": "BR", "brasil": "BR", "canada": "CA", "china": "CN", "czechia": "CZ",
    "czech republic": "CZ", "česko": "CZ", "denmark": "DK", "danmark": "DK", "finland": "FI",
    "suomi": "FI", "france": "FR", "germany": "DE", "deutschland": "DE", "greece": "GR",
    "ireland": "IE", "india": "IN", "italy": "IT", "italia": "IT", "japan": "JP",
    "morocco": "MA", "mexico": "MX", "méxico": "MX", "netherlands": "NL", "the netherlands": "NL",
    "nederland": "NL", "nigeria": "NG", "norway": "NO", "norge": "NO", "poland": "PL",
    "polska": "PL", "portugal": "PT", "romania": "RO", "românia": "RO", "spain": "ES",
    "españa": "ES", "sweden": "SE", "sverige": "SE", "switzerland": "CH", "schweiz": "CH",
    "suisse": "CH", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "united states": "US", "usa": "US", "united states of america": "US",
}


class Reject(Exception):
    pass


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def column_key(header):
    return re.sub(r"[^a-z0-9]", "", header.lower())


def clean_id(value):
    value = value.strip().upper()
    if not CUSTOMER_ID.match(value):
        raise Reject(f"customer id {value!r} is not C followed by five digits")
    return value


def clean_name(value):
    value = " ".join(value.split())
    if not value:
        raise Reject("the name is empty")
    if len(value) > 200:
        raise Reject("the name is longer than 200 characters")
    return value


def clean_email(value):
    value = value.strip().lower()
    if not EMAIL.match(value):
        raise Reject(f"email {value!r} is not an address of the form name@domain.tld")
    return value


def clean_country(value):
    text = " ".join(value.split())
    if text.upper() in ISO_CODES:
        return text.upper()
    code = COUNTRY_NAMES.get(text.lower())
    if code is None:
        raise Reject(f"country {text!r} is neither an ISO code nor a known country name")
    return code


def clean_date(value):
    text = value.strip()
    if m := re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text):
        year, month, day = m.groups()
    elif m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text):
        day, month, year = m.groups()
    elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
        first, second, year = m.groups()
        if int(first) > 12:
            day, month = first, second
        elif int(second) > 12:
            month, day = first, second
        else:
            raise Reject(f"date {text!r} is ambiguous: day and month could be either way round")
    else:
        raise Reject(f"date {text!r} is not in a known format")
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise Reject(f"date {text!r} does not exist") from None


def clean_spend(value):
    text = value.strip()
    if not text:
        raise Reject("the lifetime spend is empty")
    text = re.sub(r"^(€|EUR)\s*|\s*(€|EUR)$", "", text, flags=re.IGNORECASE)
    if re.search(r"[^0-9.,\s-]", text):
        raise Reject(f"spend {value.strip()!r} is not an amount in euros")
    text = text.replace(" ", "")
    last_dot, last_comma = text.rfind("."), text.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_mark = "." if last_dot > last_comma else ","
    elif text.count(",") + text.count(".") == 1 and len(text) - max(last_dot, last_comma) == 4:
        raise Reject(f"spend {text!r} is ambiguous: the separator could mark thousands or decimals")
    elif text.count(".") > 1:
        decimal_mark = ","  # 1.234.567
    elif text.count(",") > 1:
        decimal_mark = "."  # 1,234,567
    else:
        decimal_mark = "," if last_comma >= 0 else "."
    thousands = "," if decimal_mark == "." else "."
    text = text.replace(thousands, "").replace(decimal_mark, ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Reject(f"spend {value.strip()!r} is not a number") from None
    if amount < 0:
        raise Reject(f"spend {amount} is negative")
    if amount > 10000000:
        raise Reject(f"spend {amount} is above 10,000,000")
    return float(amount.quantize(Decimal("0.01")))


CLEANERS = {"id": clean_id, "name": clean_name, "email": clean_email, "country": clean_country,
            "signup": clean_date, "spend": clean_spend}


def main():
    try:
        args = json.load(sys.stdin)
        table = args["table"]
        source, columns, rows = table["source"], table["columns"], table["rows"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        fail(f'expected arguments {{"table": {{"source", "columns", "rows"}}}}: {exc!r}')

    keys = [column_key(header) for header in columns]
    position = {}
    for field, aliases in COLUMN_ALIASES.items():
        found = [i for i, key in enumerate(keys) if key in aliases]
        if not found:
            fail(f"{source}: no {field} column (columns: {', '.join(columns)})")
        if len(found) > 1:
            fail(f"{source}: several columns could be the {field}: "
                 + ", ".join(columns[i] for i in found))
        position[field] = found[0]

    records, rejected, first_line = [], [], {}
    for row in rows:
        cells, line = row["cells"], row["line"]
        try:
            if len(cells) != len(columns):
                raise Reject(f"expected {len(columns)} cells, found {len(cells)}")
            record = {field: CLEANERS[field](cells[i]) for field, i in position.items()}
            if record["id"] in first_line:
                raise Reject(f"duplicate of customer {record['id']} on line {first_line[record['id']]}")
        except Reject as reason:
            rejected.append({"line": line, "reason": str(reason)[:200]})
            continue
        first_line[record["id"]] = line
        records.append(record)

    if rows and len(rejected) * 2 > len(rows):
        fail(f"{source}: {len(rejected)} of {len(rows)} rows rejected, first: line "
             f"{rejected[0]['line']}, {rejected[0]['reason']}", code=3)
    json.dump({"source": source, "records": records, "rejected": rejected}, sys.stdout,
              ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
