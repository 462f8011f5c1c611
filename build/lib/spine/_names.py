"""Name vocabularies for the synthetic universe, by origin group, with their variants.

Frequencies follow the order of each list (Zipf-like weights are applied by the generator), so the
first names of a list are the common ones, as in real registers.
"""

from __future__ import annotations

#: group -> (nationality codes, female first names, male first names, surnames)
GROUPS: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {
    "native": (
        ["XSY"],
        ["Anna", "Emma", "Sara", "Ingrid", "Maria", "Elisabeth", "Karin", "Nora", "Ida", "Julia", "Hanna",
         "Sofie", "Astrid", "Linnea", "Margaret", "Katherine", "Rebecca", "Victoria", "Helen", "Louise",
         "Eleanor", "Frida", "Maja", "Thea", "Olivia"],
        ["Erik", "Lars", "Jan", "Per", "Ole", "Johan", "Anders", "Magnus", "Henrik", "Thomas", "William",
         "Robert", "Michael", "Jonathan", "Alexander", "Christopher", "Daniel", "Nicholas", "Andrew",
         "Benjamin", "Oskar", "Emil", "Jakob", "Filip", "Edward"],
        ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen",
         "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen",
         "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Lund", "Sørensen", "Solberg", "Moen", "Bakken",
         "Strand", "Smith", "Taylor", "Brown", "Wilson", "Holm", "Lie", "Lien", "Aasen", "Iversen",
         "Ødegård", "Nygård", "Østby"],
    ),
    "arabic": (
        ["SYR", "IRQ", "MAR"],
        ["Fatima", "Aisha", "Mariam", "Layla", "Noor", "Zainab", "Huda", "Amira", "Yasmin", "Rania"],
        ["Mohammed", "Ahmed", "Ali", "Omar", "Hassan", "Hussein", "Khaled", "Youssef", "Ibrahim", "Mustafa"],
        ["Al-Hassan", "Haddad", "Khalil", "Mansour", "Nasser", "Saleh", "Abdullah", "Hamdan", "Aziz", "Qureshi",
         "Rahman", "Suleiman"],
    ),
    "slavic": (
        ["UKR", "POL", "RUS"],
        ["Olena", "Natalia", "Tetiana", "Yulia", "Iryna", "Anastasia", "Katarzyna", "Agnieszka", "Oksana", "Svetlana"],
        ["Oleksandr", "Andriy", "Dmytro", "Sergei", "Mykola", "Piotr", "Tomasz", "Yuriy", "Vladimir", "Pavel"],
        ["Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kowalski", "Nowak", "Ivanov", "Petrov",
         "Melnyk", "Wisniewski", "Kuznetsov", "Zhukov"],
    ),
    "chinese": (
        ["CHN"],
        ["Li Na", "Wang Fang", "Xiu Ying", "Mei", "Jing", "Yan", "Hui", "Ling", "Xia", "Qian"],
        ["Wei", "Jun", "Hao", "Lei", "Qiang", "Jie", "Tao", "Ming", "Yong", "Zhiwei"],
        ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun"],
    ),
    "spanish": (
        ["ESP", "CHL", "MEX"],
        ["María José", "Lucía", "Carmen", "Valentina", "Camila", "Isabel", "Sofía", "Paula", "Daniela", "Ana"],
        ["José", "Juan", "Carlos", "Luis", "Javier", "Diego", "Alejandro", "Miguel", "Pablo", "Andrés"],
        ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Muñoz",
         "Rojas", "Díaz", "Soto"],
    ),
    "indian": (
        ["IND"],
        ["Priya", "Ananya", "Lakshmi", "Deepa", "Pooja", "Kavya", "Sunita", "Neha", "Divya", "Meera"],
        ["Rahul", "Amit", "Sanjay", "Vijay", "Rajesh", "Arjun", "Suresh", "Ravi", "Anil", "Krishna"],
        ["Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair", "Das", "Rao", "Mehta", "Joshi"],
    ),
}

#: Other spellings of the same foreign name (transliteration from another script or convention).
TRANSLITERATIONS: dict[str, list[str]] = {
    "Mohammed": ["Muhammad", "Mohamed", "Mohamad"], "Ahmed": ["Ahmad", "Achmed"], "Omar": ["Umar"],
    "Hassan": ["Hasan"], "Hussein": ["Husain", "Hussain"], "Khaled": ["Khalid"], "Youssef": ["Yusuf", "Yousef"],
    "Ibrahim": ["Ebrahim"], "Mustafa": ["Mostafa"], "Fatima": ["Fatma", "Fatimah"], "Aisha": ["Aysha", "Ayesha"],
    "Mariam": ["Maryam"], "Layla": ["Leila", "Laila"], "Noor": ["Nur"], "Zainab": ["Zaynab"],
    "Al-Hassan": ["Alhassan", "El-Hassan"], "Haddad": ["Hadad"], "Khalil": ["Halil"], "Mansour": ["Mansur"],
    "Nasser": ["Nasir"], "Saleh": ["Salih"], "Abdullah": ["Abdallah"], "Suleiman": ["Sulayman", "Soliman"],
    "Oleksandr": ["Aleksandr", "Olexandr"], "Andriy": ["Andrii", "Andrei"], "Dmytro": ["Dmitry", "Dmitri"],
    "Sergei": ["Sergey", "Serhiy"], "Mykola": ["Nikolai"], "Yuriy": ["Yurii", "Iurii"], "Olena": ["Elena", "Alena"],
    "Natalia": ["Nataliya"], "Tetiana": ["Tatiana", "Tatyana"], "Yulia": ["Iuliia", "Julia"],
    "Iryna": ["Irina"], "Oksana": ["Aksana"], "Shevchenko": ["Schewtschenko"], "Kovalenko": ["Kowalenko"],
    "Tkachenko": ["Tkatchenko"], "Ivanov": ["Iwanow"], "Petrov": ["Petroff"], "Kuznetsov": ["Kuznetsow"],
    "Zhukov": ["Joukov", "Schukow"], "Melnyk": ["Melnik"],
    "Zhang": ["Chang"], "Zhou": ["Chou"], "Xu": ["Hsu"], "Zhao": ["Chao"], "Huang": ["Hwang"], "Wu": ["Woo"],
    "Chen": ["Chan"], "Liu": ["Lau"], "Wei": ["Way"], "Zhiwei": ["Chih-Wei"],
    "Lakshmi": ["Laxmi"], "Krishna": ["Krishnan"], "Iyer": ["Aiyar"], "Rao": ["Row"],
    "José": ["Jose"], "García": ["Garcia"], "Sofía": ["Sofia"], "Lucía": ["Lucia"], "Muñoz": ["Munoz"],
}

#: Native nicknames used in administrative sources.
NICKNAMES: dict[str, list[str]] = {
    "William": ["Bill", "Will"], "Robert": ["Bob", "Rob"], "Michael": ["Mike"], "Jonathan": ["Jon"],
    "Alexander": ["Alex"], "Christopher": ["Chris"], "Daniel": ["Dan"], "Nicholas": ["Nick"],
    "Andrew": ["Andy"], "Benjamin": ["Ben"], "Thomas": ["Tom"], "Edward": ["Ed", "Ted"],
    "Elisabeth": ["Lisa", "Elise"], "Margaret": ["Maggie", "Meg"], "Katherine": ["Kate", "Kathy"],
    "Rebecca": ["Becky"], "Victoria": ["Vicky"], "Eleanor": ["Ellie"], "Johan": ["Jo"], "Magnus": ["Mons"],
}

#: Nationality codes confusable with another (miscoding in border and visa data).
CONFUSABLE_COUNTRIES: dict[str, str] = {
    "CHL": "CHE", "CHN": "CHL", "IND": "IDN", "IRQ": "IRN", "POL": "PRT", "MAR": "MRT", "SYR": "SYC",
    "ESP": "EST", "MEX": "MYS", "UKR": "UGA", "RUS": "RWA", "XSY": "XSX",
}
