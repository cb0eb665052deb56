/** The menu's words in each language it speaks; GSM-7 only (a telco cannot render anything else). */
export type MenuLanguage = 'en' | 'sw';

export interface MenuTexts {
  mainTitle: string;
  mainOptions: readonly [appointments: string, contact: string, language: string, exit: string];
  more: string;
  back: string;
  invalidChoice: string;
  appointmentsTitle: string;
  noAppointments: string;
  unknownNumber: string;
  withWhom: string;
  contactTitle: string;
  phone: string;
  hours: string;
  noHours: string;
  languageTitle: string;
  goodbye: string;
}

export const MENU_TEXTS: Record<MenuLanguage, MenuTexts> = {
  en: {
    mainTitle: 'Welcome. Choose a number:',
    mainOptions: ['Upcoming appointments', 'Clinic hours and contact', 'Language / Lugha', 'Exit'],
    more: 'More',
    back: 'Back',
    invalidChoice: 'That is not on the menu.',
    appointmentsTitle: 'Your appointments:',
    noAppointments: 'You have no upcoming appointments. To book, call the clinic.',
    unknownNumber: 'We could not find your phone number in our records. Please call or visit the clinic.',
    withWhom: 'with',
    contactTitle: 'Contact',
    phone: 'Phone',
    hours: 'Open',
    noHours: 'Ask the clinic for opening hours.',
    languageTitle: 'Choose language / Chagua lugha:',
    goodbye: 'Thank you. Goodbye.',
  },
  sw: {
    mainTitle: 'Karibu. Chagua namba:',
    mainOptions: ['Miadi ijayo', 'Saa za kliniki na mawasiliano', 'Lugha / Language', 'Toka'],
    more: 'Zaidi',
    back: 'Rudi',
    invalidChoice: 'Chaguo hilo halipo.',
    appointmentsTitle: 'Miadi yako:',
    noAppointments: 'Huna miadi ijayo. Kupanga miadi, piga simu kliniki.',
    unknownNumber: 'Hatukupata namba yako ya simu kwenye kumbukumbu zetu. Tafadhali piga simu au fika kliniki.',
    withWhom: 'na',
    contactTitle: 'Mawasiliano',
    phone: 'Simu',
    hours: 'Saa za kazi',
    noHours: 'Uliza kliniki saa za kazi.',
    languageTitle: 'Chagua lugha / Choose language:',
    goodbye: 'Asante. Kwaheri.',
  },
};

/** `sw` when the patient's preferred (else first) language is Swahili (`sw`, `sw-KE`…); else English. */
export function languageOf(
  communication: readonly { language?: { coding?: { code?: string }[] }; preferred?: boolean }[] | undefined
): MenuLanguage {
  const chosen = communication?.find((c) => c.preferred) ?? communication?.[0];
  const code = chosen?.language?.coding?.[0]?.code?.toLowerCase() ?? '';
  return code === 'sw' || code.startsWith('sw-') ? 'sw' : 'en';
}
