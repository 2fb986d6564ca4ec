//! A deterministic synthetic `XmlWinEventLog` export for benchmarks and tests: Sysmon 1, 3, 7,
//! 10, 11, 13 and Security 4688 events from templates with varied values, and comsvcs
//! `MiniDump` launches and near-misses at known rates. Made-up hosts, users and ids; it is not
//! real data and reads no file.

use std::fmt::Write as _;
use std::io::{self, Write};

/// Changes whenever the output for a seed and size changes, so caches can tell.
pub const GENERATOR_VERSION: u32 = 1;

/// One in this many events is a launch the comsvcs rule selects.
pub const POSITIVE_EVERY: u64 = 1_000;
/// One in this many events is a near-miss: some or all of the rule's literals, no match.
pub const NEAR_MISS_EVERY: u64 = 400;

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Bytes written.
    pub bytes: u64,
    /// Events written.
    pub events: u64,
    /// Events the comsvcs rule selects (the sum of its `count` column).
    pub positives: u64,
    /// Near-misses written.
    pub near_misses: u64,
    /// Events that become `Endpoint.Processes` records (Sysmon 1 and Security 4688).
    pub process_events: u64,
}

/// Writes events until at least `size` bytes are written; the same `seed` and `size` give
/// the same bytes.
pub fn write_export(out: &mut impl Write, seed: u64, size: u64) -> io::Result<Written> {
    let mut generator =
        Generator { rng: Rng(seed ^ 0x0005_eed0_fc07_55c5), time: T0, record: 1000 };
    let mut written = Written::default();
    let mut text = String::with_capacity(4096);
    while written.bytes < size {
        text.clear();
        let kind = generator.event(&mut text, written.events);
        match kind {
            Kind::Positive => written.positives += 1,
            Kind::NearMiss => written.near_misses += 1,
            Kind::Other => {}
        }
        if text.contains("<EventID>1</EventID>") || text.contains("<EventID>4688</EventID>") {
            written.process_events += 1;
        }
        out.write_all(text.as_bytes())?;
        written.bytes += text.len() as u64;
        written.events += 1;
    }
    Ok(written)
}

/// 2024-03-01T00:00:00Z in microseconds.
const T0: i64 = 1_709_251_200_000_000;

const HOSTS: &[&str] = &[
    "win-dc-01.corp.example",
    "ws-0142.corp.example",
    "ws-0187.corp.example",
    "srv-sql-02.corp.example",
    "ws-2231.corp.example",
    "laptop-ar77",
];
const USERS: &[(&str, &str)] = &[
    ("CORP", "alice"),
    ("CORP", "bob.smith"),
    ("CORP", "svc_backup"),
    ("NT AUTHORITY", "SYSTEM"),
    ("CORP", "Administrator"),
    ("WS-0142", "localadmin"),
];
const PROCESSES: &[(&str, &str)] = &[
    (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
    ),
    (
        r"C:\Windows\System32\cmd.exe",
        r#"C:\Windows\system32\cmd.exe /c "dir C:\Users\Public > C:\Temp\list.txt""#,
    ),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Scripts\inventory.ps1",
    ),
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --field-trial-handle=1840,i,9182736450"#,
    ),
    (
        r"C:\Windows\System32\rundll32.exe",
        r"C:\Windows\system32\rundll32.exe shell32.dll,Control_RunDLL desk.cpl",
    ),
    (
        r"C:\Windows\System32\conhost.exe",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
    ),
    (
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE" /recycle"#,
    ),
    (r"C:\Windows\System32\taskhostw.exe", r"taskhostw.exe KEYROAMING"),
    (r"C:\Windows\System32\net.exe", r"net  user /domain &amp; whoami /all"),
];
const PARENTS: &[(&str, &str)] = &[
    (r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE"),
    (r"C:\Windows\System32\services.exe", r"C:\Windows\system32\services.exe"),
    (r"C:\Windows\System32\cmd.exe", r#""C:\Windows\system32\cmd.exe""#),
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k DcomLaunch -p"),
];
const DLLS: &[&str] = &[
    r"C:\Windows\System32\ntdll.dll",
    r"C:\Windows\System32\kernel32.dll",
    r"C:\Windows\System32\advapi32.dll",
    r"C:\Windows\System32\crypt32.dll",
    r"C:\Windows\System32\wininet.dll",
    r"C:\Windows\System32\comsvcs.dll",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Positive,
    NearMiss,
    Other,
}

/// splitmix64: small, fast and fixed, so the output never changes with a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        &items[index.min(items.len() - 1)]
    }

    fn guid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{{{:08x}-{:04x}-{:04x}-{:04x}-{:012x}}}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

struct Generator {
    rng: Rng,
    time: i64,
    record: u64,
}

impl Generator {
    /// Appends one event and its line end to `text`.
    fn event(&mut self, text: &mut String, index: u64) -> Kind {
        self.time += i64::try_from(self.rng.below(40_000)).unwrap_or(0) + 1;
        self.record += 1;
        // Positives and near-misses at fixed strides (offset so they do not coincide), the
        // rest drawn by weight.
        if index % POSITIVE_EVERY == POSITIVE_EVERY / 2 {
            self.positive(text);
            return Kind::Positive;
        }
        if index % NEAR_MISS_EVERY == NEAR_MISS_EVERY / 3 {
            self.near_miss(text);
            return Kind::NearMiss;
        }
        match self.rng.below(100) {
            0..20 => {
                let (image, command) = *self.rng.pick(PROCESSES);
                self.sysmon_process(text, image, command);
            }
            20..35 => self.sysmon_network(text),
            35..60 => {
                let dll = *self.rng.pick(DLLS);
                let (image, _) = *self.rng.pick(PROCESSES);
                self.sysmon_image_load(text, image, dll);
            }
            60..70 => self.sysmon_access(text, false),
            70..82 => self.sysmon_file(text),
            82..92 => self.sysmon_registry(text),
            _ => {
                let (image, command) = *self.rng.pick(PROCESSES);
                self.security_process(text, image, command);
            }
        }
        Kind::Other
    }

    fn positive(&mut self, text: &mut String) {
        let pid = 600 + self.rng.below(200);
        let dump = format!(r"C:\Users\Public\{}.dmp", self.rng.below(10_000));
        match self.rng.below(5) {
            0 => self.sysmon_process(
                text,
                r"C:\Windows\System32\rundll32.exe",
                &format!(r#""C:\Windows\System32\rundll32.exe" C:\windows\System32\comsvcs.dll, MiniDump {pid} {dump} full"#),
            ),
            1 => self.sysmon_process(
                text,
                r"C:\WINDOWS\SYSTEM32\RUNDLL32.EXE",
                &format!(r"RUNDLL32.EXE C:\WINDOWS\SYSTEM32\COMSVCS.DLL,MINIDUMP {pid} {dump} full"),
            ),
            2 => self.sysmon_process(
                text,
                r"C:\Windows\System32\rundll32.exe",
                &format!("rundll32.exe C:\\Windows\\System32\\comsvcs.dll,\r\n  MiniDump {pid} {dump} full"),
            ),
            3 => self.security_process(
                text,
                r"C:\Windows\System32\rundll32.exe",
                &format!(r"rundll32.exe comsvcs.dll MiniDump {pid} {dump} full"),
            ),
            _ => self.sysmon_process(
                text,
                r"C:\Windows\System32\rundll32.exe",
                &format!(r"rundll32.exe &quot;C:\Windows\System32\comsvcs.dll&quot;, MiniDump {pid} {dump} full"),
            ),
        }
    }

    fn near_miss(&mut self, text: &mut String) {
        let pid = 600 + self.rng.below(200);
        match self.rng.below(6) {
            0 => self.sysmon_process(
                text,
                r"C:\Windows\System32\rundll32.exe",
                &format!(r"rundll32.exe C:\Windows\System32\comsvcs.dll #24 {pid} C:\Temp\out.dmp full"),
            ),
            1 => self.sysmon_process(
                text,
                r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                r#"powershell.exe -nop -c "&amp; rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump (Get-Process lsass).Id C:\Temp\l.dmp full""#,
            ),
            2 => self.sysmon_access(text, true),
            3 => self.sysmon_image_load(
                text,
                r"C:\Windows\System32\rundll32.exe",
                r"C:\Windows\System32\comsvcs.dll",
            ),
            4 => self.sysmon_process(
                text,
                r"C:\Windows\System32\rundll32.exe",
                &format!(r"rundll32.exe C:\Temp\comsvcs_copy.dll, MiniDump {pid} C:\Temp\x.dmp full"),
            ),
            _ => self.security_process(
                text,
                r"C:\Windows\System32\cmd.exe",
                r"cmd.exe /c rundll32.exe comsvcs.dll MiniDump 624 C:\Temp\d.dmp full",
            ),
        }
    }

    fn system(&mut self, text: &mut String, provider: &str, guid: &str, id: u32, channel: &str) {
        let host = *self.rng.pick(HOSTS);
        text.push_str("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='");
        text.push_str(provider);
        text.push_str("' Guid='");
        text.push_str(guid);
        let _ = write!(
            text,
            "'/><EventID>{id}</EventID><Version>5</Version><Level>4</Level><Task>{id}</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='{}'/><EventRecordID>{}</EventRecordID><Correlation/><Execution ProcessID='{}' ThreadID='{}'/><Channel>{channel}</Channel><Computer>{host}</Computer><Security UserID='S-1-5-18'/></System><EventData>",
            system_time(self.time),
            self.record,
            2000 + self.rng.below(3000),
            1000 + self.rng.below(9000),
        );
    }

    fn sysmon(&mut self, text: &mut String, id: u32) {
        self.system(
            text,
            "Microsoft-Windows-Sysmon",
            "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
            id,
            "Microsoft-Windows-Sysmon/Operational",
        );
        data(text, "RuleName", "-");
        data(text, "UtcTime", &utc_time(self.time));
    }

    fn user(&mut self) -> String {
        let (domain, name) = *self.rng.pick(USERS);
        format!("{domain}\\{name}")
    }

    fn sysmon_process(&mut self, text: &mut String, image: &str, command: &str) {
        self.sysmon(text, 1);
        let guid = self.rng.guid();
        data(text, "ProcessGuid", &guid);
        data(text, "ProcessId", &(1000 + self.rng.below(60_000)).to_string());
        data(text, "Image", image);
        data(text, "FileVersion", "10.0.19041.1 (WinBuild.160101.0800)");
        data(text, "Description", "Windows host process");
        data(text, "Product", "Microsoft\u{ae} Windows\u{ae} Operating System");
        data(text, "Company", "Microsoft Corporation");
        data(text, "OriginalFileName", image.rsplit('\\').next().unwrap_or(image));
        data(text, "CommandLine", command);
        data(text, "CurrentDirectory", r"C:\Windows\system32\");
        let user = self.user();
        data(text, "User", &user);
        let logon = self.rng.guid();
        data(text, "LogonGuid", &logon);
        data(text, "LogonId", &format!("0x{:x}", self.rng.below(0xff_ffff)));
        data(text, "TerminalSessionId", "1");
        data(text, "IntegrityLevel", if self.rng.below(3) == 0 { "System" } else { "High" });
        let (a, b) = (self.rng.next(), self.rng.next());
        data(
            text,
            "Hashes",
            &format!("SHA1={a:016X}{b:016X}00000000,MD5={b:016X}{a:016X},IMPHASH={a:016X}{a:016X}"),
        );
        let parent_guid = self.rng.guid();
        data(text, "ParentProcessGuid", &parent_guid);
        data(text, "ParentProcessId", &(500 + self.rng.below(9000)).to_string());
        let (parent, parent_command) = *self.rng.pick(PARENTS);
        data(text, "ParentImage", parent);
        data(text, "ParentCommandLine", parent_command);
        data(text, "ParentUser", &user);
        end(text);
    }

    fn sysmon_network(&mut self, text: &mut String) {
        self.sysmon(text, 3);
        let guid = self.rng.guid();
        data(text, "ProcessGuid", &guid);
        data(text, "ProcessId", &(1000 + self.rng.below(60_000)).to_string());
        let (image, _) = *self.rng.pick(PROCESSES);
        data(text, "Image", image);
        let user = self.user();
        data(text, "User", &user);
        data(text, "Protocol", "tcp");
        data(text, "Initiated", "true");
        data(text, "SourceIsIpv6", "false");
        data(text, "SourceIp", &format!("10.0.{}.{}", self.rng.below(255), self.rng.below(255)));
        let host = *self.rng.pick(HOSTS);
        data(text, "SourceHostname", host);
        data(text, "SourcePort", &(49152 + self.rng.below(16000)).to_string());
        data(text, "SourcePortName", "-");
        data(text, "DestinationIsIpv6", "false");
        data(text, "DestinationIp", &format!("192.0.2.{}", self.rng.below(255)));
        data(text, "DestinationHostname", "-");
        data(text, "DestinationPort", if self.rng.below(2) == 0 { "443" } else { "445" });
        data(text, "DestinationPortName", "https");
        end(text);
    }

    fn sysmon_image_load(&mut self, text: &mut String, image: &str, dll: &str) {
        self.sysmon(text, 7);
        let guid = self.rng.guid();
        data(text, "ProcessGuid", &guid);
        data(text, "ProcessId", &(1000 + self.rng.below(60_000)).to_string());
        data(text, "Image", image);
        data(text, "ImageLoaded", dll);
        data(text, "FileVersion", "10.0.19041.3636 (WinBuild.160101.0800)");
        data(text, "Description", "library");
        data(text, "Product", "Microsoft\u{ae} Windows\u{ae} Operating System");
        data(text, "Company", "Microsoft Corporation");
        data(text, "OriginalFileName", dll.rsplit('\\').next().unwrap_or(dll));
        let a = self.rng.next();
        data(text, "Hashes", &format!("SHA256={a:016X}{a:016X}{a:016X}{a:016X}"));
        data(text, "Signed", "true");
        data(text, "Signature", "Microsoft Windows");
        data(text, "SignatureStatus", "Valid");
        let user = self.user();
        data(text, "User", &user);
        end(text);
    }

    fn sysmon_access(&mut self, text: &mut String, comsvcs: bool) {
        self.sysmon(text, 10);
        let guid = self.rng.guid();
        data(text, "SourceProcessGUID", &guid);
        data(text, "SourceProcessId", &(1000 + self.rng.below(60_000)).to_string());
        data(text, "SourceThreadId", &(1000 + self.rng.below(9000)).to_string());
        let source =
            if comsvcs { r"C:\Windows\System32\rundll32.exe" } else { self.rng.pick(PROCESSES).0 };
        data(text, "SourceImage", source);
        let target = self.rng.guid();
        data(text, "TargetProcessGUID", &target);
        data(text, "TargetProcessId", "624");
        data(text, "TargetImage", r"C:\Windows\system32\lsass.exe");
        data(text, "GrantedAccess", "0x1fffff");
        let mut trace = String::from(
            r"C:\Windows\SYSTEM32\ntdll.dll+9d1e4|C:\Windows\System32\KERNELBASE.dll+2c13e",
        );
        if comsvcs {
            trace.push_str(
                r"|C:\Windows\System32\comsvcs.dll+2f9a5|C:\Windows\System32\rundll32.exe+3bc5",
            );
        }
        trace.push_str(
            r"|C:\Windows\System32\KERNEL32.DLL+17034|C:\Windows\SYSTEM32\ntdll.dll+52651",
        );
        data(text, "CallTrace", &trace);
        data(text, "SourceUser", r"CORP\alice");
        data(text, "TargetUser", r"NT AUTHORITY\SYSTEM");
        end(text);
    }

    fn sysmon_file(&mut self, text: &mut String) {
        self.sysmon(text, 11);
        let guid = self.rng.guid();
        data(text, "ProcessGuid", &guid);
        data(text, "ProcessId", &(1000 + self.rng.below(60_000)).to_string());
        let (image, _) = *self.rng.pick(PROCESSES);
        data(text, "Image", image);
        data(
            text,
            "TargetFilename",
            &format!(r"C:\Users\alice\AppData\Local\Temp\tmp{:x}.tmp", self.rng.next() >> 40),
        );
        data(text, "CreationUtcTime", &utc_time(self.time));
        let user = self.user();
        data(text, "User", &user);
        end(text);
    }

    fn sysmon_registry(&mut self, text: &mut String) {
        self.sysmon(text, 13);
        data(text, "EventType", "SetValue");
        let guid = self.rng.guid();
        data(text, "ProcessGuid", &guid);
        data(text, "ProcessId", &(1000 + self.rng.below(60_000)).to_string());
        let (image, _) = *self.rng.pick(PROCESSES);
        data(text, "Image", image);
        data(
            text,
            "TargetObject",
            &format!(
                r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\Updater{}",
                self.rng.below(100)
            ),
        );
        data(text, "Details", "DWORD (0x00000001)");
        let user = self.user();
        data(text, "User", &user);
        end(text);
    }

    fn security_process(&mut self, text: &mut String, image: &str, command: &str) {
        self.system(
            text,
            "Microsoft-Windows-Security-Auditing",
            "{54849625-5478-4994-a5ba-3e3b0328c30d}",
            4688,
            "Security",
        );
        let (domain, name) = *self.rng.pick(USERS);
        data(text, "SubjectUserSid", "S-1-5-18");
        data(text, "SubjectUserName", "WS-0142$");
        data(text, "SubjectDomainName", "CORP");
        data(text, "SubjectLogonId", "0x3e7");
        data(text, "NewProcessId", &format!("0x{:x}", 0x100 + self.rng.below(0xf000)));
        data(text, "NewProcessName", image);
        data(text, "TokenElevationType", "%%1936");
        data(text, "ProcessId", &format!("0x{:x}", 0x100 + self.rng.below(0xf000)));
        data(text, "CommandLine", command);
        data(text, "TargetUserSid", "S-1-0-0");
        data(text, "TargetUserName", name);
        data(text, "TargetDomainName", domain);
        data(text, "TargetLogonId", "0x0");
        let parent = self.rng.pick(PARENTS).0;
        data(text, "ParentProcessName", parent);
        data(text, "MandatoryLabel", "S-1-16-12288");
        end(text);
    }
}

fn data(text: &mut String, name: &str, value: &str) {
    text.push_str("<Data Name='");
    text.push_str(name);
    text.push_str("'>");
    text.push_str(value);
    text.push_str("</Data>");
}

fn end(text: &mut String) {
    text.push_str("</EventData></Event>\n");
}

/// `2024-03-01T12:34:56.1234560Z`, as Sysmon writes `SystemTime`.
fn system_time(micros: i64) -> String {
    let (date, time, fraction) = civil(micros);
    format!("{date}T{time}.{fraction:06}0Z")
}

/// `2024-03-01 12:34:56.123`, as Sysmon writes `UtcTime`.
fn utc_time(micros: i64) -> String {
    let (date, time, fraction) = civil(micros);
    format!("{date} {time}.{:03}", fraction / 1000)
}

/// Date, time of day and microseconds of a UTC time (Howard Hinnant's civil-from-days).
fn civil(micros: i64) -> (String, String, i64) {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", of_day / 3600, of_day / 60 % 60, of_day % 60),
        fraction,
    )
}
