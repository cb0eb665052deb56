// Synthetic Patient resources for the benchmark: about 1 KB each, every one with its own MRN and a
// family name built from syllables, so identifier searches hit exactly one patient and name-prefix
// searches (first two syllables) hit a small, predictable set.

export const MRN_SYSTEM = 'https://tiba.example.org/fhir/sid/bench-mrn';
const NATIONAL_ID_SYSTEM = 'https://tiba.example.org/fhir/sid/national-id';

const SYLLABLES = ['ka', 'lo', 'mi', 'na', 'ru', 'te', 'wa', 'zi', 'bo', 'de', 'fu', 'ga', 'hi', 'je', 'ko', 'ma'];
const GIVEN = ['Amina', 'Baraka', 'Chausiku', 'Daudi', 'Eshe', 'Faraji', 'Gift', 'Halima', 'Imani', 'Juma', 'Kito'];
const CITIES = ['Arusha', 'Dodoma', 'Mwanza', 'Mbeya', 'Tanga', 'Moshi', 'Iringa', 'Morogoro'];

const cap = (s) => s[0].toUpperCase() + s.slice(1);
const pick = (list, n) => list[n % list.length];

/** Family name of patient n: three syllables (4,096 distinct names). */
export function familyName(n) {
  const s = SYLLABLES.length;
  return cap(pick(SYLLABLES, n) + pick(SYLLABLES, Math.floor(n / s)) + pick(SYLLABLES, Math.floor(n / (s * s))));
}

/** A name-search prefix: the first two syllables of patient n's family name (1 in 256 patients). */
export function namePrefix(n) {
  return familyName(n).slice(0, 4);
}

/** The n-th benchmark Patient; `run` keeps identifiers unique across runs on a shared database. */
export function makePatient(run, n) {
  const city = pick(CITIES, n * 7);
  const day = String((n % 28) + 1).padStart(2, '0');
  const month = String((n % 12) + 1).padStart(2, '0');
  const mrn = `${run}-${n}`;
  const phone = `+2557${String(10_000_000 + ((n * 7_919) % 89_999_999)).padStart(8, '0')}`;
  return {
    resourceType: 'Patient',
    active: true,
    identifier: [
      {
        use: 'usual',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }], text: 'MRN' },
        system: MRN_SYSTEM,
        value: mrn,
      },
      { use: 'official', system: NATIONAL_ID_SYSTEM, value: `1984${String(n).padStart(12, '0')}` },
    ],
    name: [
      {
        use: 'official',
        family: familyName(n),
        given: [pick(GIVEN, n), pick(GIVEN, n * 3 + 1)],
        prefix: [n % 2 ? 'Mr.' : 'Ms.'],
      },
    ],
    telecom: [
      { system: 'phone', value: phone, use: 'mobile', rank: 1 },
      { system: 'email', value: `patient${mrn}@example.org`, use: 'home' },
    ],
    gender: n % 2 ? 'male' : 'female',
    birthDate: `${1940 + (n % 80)}-${month}-${day}`,
    address: [
      {
        use: 'home',
        type: 'physical',
        line: [`${(n % 400) + 1} Uhuru Street`, `Block ${pick(SYLLABLES, n).toUpperCase()}`],
        city,
        district: `${city} Urban`,
        state: `${city} Region`,
        postalCode: String(10_000 + (n % 90_000)),
        country: 'TZ',
      },
    ],
    maritalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: n % 3 ? 'M' : 'S' }],
    },
    communication: [
      {
        language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw', display: 'Swahili' }] },
        preferred: true,
      },
    ],
  };
}
