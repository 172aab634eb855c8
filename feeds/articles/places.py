"""Country names as a dateline gives them after its city ("Tehran, Iran - …", "Damascus,
Syria— …"): what tells a dateline in title case from a sentence that starts with a name."""

from __future__ import annotations

COUNTRIES = frozenset("""
Afghanistan|Albania|Algeria|Andorra|Angola|Argentina|Armenia|Australia|Austria|Azerbaijan
Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|Bosnia
Bosnia and Herzegovina|Botswana|Brazil|Brunei|Bulgaria|Burkina Faso|Burundi|Cambodia|Cameroon
Canada|Cape Verde|Chad|Chile|China|Colombia|Comoros|Congo|Costa Rica|Croatia|Cuba|Cyprus
Czech Republic|Czechia|Denmark|Djibouti|Dominica|Dominican Republic|DR Congo|East Timor
Ecuador|Egypt|El Salvador|England|Eritrea|Estonia|Eswatini|Ethiopia|Fiji|Finland|France|Gabon
Gambia|Gaza|Gaza Strip|Georgia|Germany|Ghana|Greece|Grenada|Guatemala|Guinea|Guyana|Haiti
Honduras|Hong Kong|Hungary|Iceland|India|Indonesia|Iran|Iraq|Ireland|Israel|Italy
Ivory Coast|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kosovo|Kuwait|Kyrgyzstan|Laos|Latvia
Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|Luxembourg|Madagascar|Malawi|Malaysia
Maldives|Mali|Malta|Mauritania|Mauritius|Mexico|Moldova|Monaco|Mongolia|Montenegro|Morocco
Mozambique|Myanmar|Namibia|Nepal|Netherlands|New Zealand|Nicaragua|Niger|Nigeria
North Korea|North Macedonia|Northern Ireland|Norway|Oman|Pakistan|Palestine|Panama
Papua New Guinea|Paraguay|Peru|Philippines|Poland|Portugal|Qatar|Romania|Russia|Rwanda
Saudi Arabia|Scotland|Senegal|Serbia|Sierra Leone|Singapore|Slovakia|Slovenia|Somalia
South Africa|South Korea|South Sudan|Spain|Sri Lanka|Sudan|Suriname|Sweden|Switzerland|Syria
Taiwan|Tajikistan|Tanzania|Thailand|Togo|Trinidad and Tobago|Tunisia|Turkey|Turkiye|Türkiye
Turkmenistan|UAE|Uganda|UK|Ukraine|United Arab Emirates|United Kingdom|United States
Uruguay|US|U.S.|USA|Uzbekistan|Venezuela|Vietnam|Wales|West Bank|Yemen|Zambia|Zimbabwe
""".replace("\n", "|").strip("|").split("|"))
